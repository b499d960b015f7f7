package main

// multipart_cases.go — `agents multipart-cases DIR`: multipart bodies made
// with Go's mime/multipart writer, and hand-made ones at the edges of the
// grammar, each read back with Go's own multipart reader (NextRawPart, so
// that nothing is decoded) to say what a parser must find: the parts' form
// names, filenames, content types and data, or that the body is refused.
// Where pgopipe's parser deliberately differs from Go's (its limits, folded
// header lines), the case says so and what pgopipe must answer instead.
//
//	DIR/NAME.body   the body
//	DIR/cases.json  [{"name", "content_type", "body", "go_ok", "go_error",
//	                  "parts": [{"name", "filename", "has_filename",
//	                  "content_type", "len", "sha256"}],
//	                  "differs", "want_ok", "want_error"}]

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"mime"
	"mime/multipart"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
)

type casePart struct {
	Name        string `json:"name"`
	Filename    string `json:"filename"`
	HasFilename bool   `json:"has_filename"`
	ContentType string `json:"content_type"`
	Len         int    `json:"len"`
	SHA256      string `json:"sha256"`
}

type mpCase struct {
	Name        string     `json:"name"`
	ContentType string     `json:"content_type"`
	Body        string     `json:"body"`
	GoOK        bool       `json:"go_ok"`
	GoError     string     `json:"go_error,omitempty"`
	Parts       []casePart `json:"parts"`
	Differs     string     `json:"differs,omitempty"`    // why pgopipe answers otherwise
	WantOK      bool       `json:"want_ok"`              // pgopipe's answer
	WantError   string     `json:"want_error,omitempty"` // a substring of pgopipe's message
}

// goRead reads a body the way a Go server would (NextRawPart until EOF).
func goRead(contentType string, body []byte) ([]casePart, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, err
	}
	if mt != "multipart/form-data" {
		return nil, fmt.Errorf("not multipart/form-data")
	}
	b, ok := params["boundary"]
	if !ok || b == "" {
		return nil, fmt.Errorf("no boundary")
	}
	r := multipart.NewReader(bytes.NewReader(body), b)
	parts := []casePart{}
	for {
		p, err := r.NextRawPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		cp := casePart{ContentType: p.Header.Get("Content-Type"), Len: len(data)}
		if cd := p.Header.Get("Content-Disposition"); cd != "" {
			if d, dp, err := mime.ParseMediaType(cd); err == nil {
				if d == "form-data" {
					cp.Name = dp["name"]
				}
				cp.Filename, cp.HasFilename = dp["filename"]
			}
		}
		sum := sha256.Sum256(data)
		cp.SHA256 = hex.EncodeToString(sum[:])
		parts = append(parts, cp)
	}
}

// noisy returns n bytes that contain CRLFs, dashes and near-boundaries.
func noisy(n int, boundary string, seed int64) []byte {
	rng := rand.New(rand.NewSource(seed))
	var b bytes.Buffer
	for b.Len() < n {
		switch rng.Intn(6) {
		case 0:
			b.WriteString("\r\n--")
		case 1:
			b.WriteString("\r\n--" + boundary[:len(boundary)/2])
		case 2:
			b.WriteString("\r\n--" + boundary + "X")
		default:
			var x [16]byte
			rng.Read(x[:])
			b.Write(x[:])
		}
	}
	return b.Bytes()[:n]
}

func multipartCases(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var cases []mpCase
	add := func(name, ct string, body []byte, differs string, wantOK bool, wantErr string) {
		cases = append(cases, mpCase{Name: name, ContentType: ct, Body: name + ".body", Differs: differs,
			WantOK: wantOK, WantError: wantErr})
		if err := os.WriteFile(filepath.Join(dir, name+".body"), body, 0o644); err != nil {
			fatal("%v", err)
		}
	}
	// Go-made bodies.
	gen := func(name string, boundary string, build func(w *multipart.Writer), differs string, wantOK bool,
		wantErr string) {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		if boundary != "" {
			if err := w.SetBoundary(boundary); err != nil {
				fatal("%s: %v", name, err)
			}
		}
		build(w)
		w.Close()
		add(name, w.FormDataContentType(), buf.Bytes(), differs, wantOK, wantErr)
	}
	file := func(w *multipart.Writer, field, filename string, data []byte) {
		fw, err := w.CreateFormFile(field, filename)
		if err != nil {
			fatal("%v", err)
		}
		fw.Write(data)
	}
	gen("go-pyroscope", "", func(w *multipart.Writer) {
		file(w, "profile", "profile.pprof", noisy(5000, "0123456789abcdef", 1))
		file(w, "sample_type_config", "sample_type_config.json", []byte(`{"alloc_space":{"units":"bytes"}}`))
	}, "", true, "")
	gen("go-prev-profile", "", func(w *multipart.Writer) {
		file(w, "profile", "profile.pprof", noisy(3000, "x", 2))
		file(w, "prev_profile", "profile.pprof", noisy(2000, "y", 3))
	}, "", true, "")
	gen("go-value-parts", "", func(w *multipart.Writer) {
		w.WriteField("profile", string(noisy(1000, "zz", 4)))
		w.WriteField("note", "plain value")
	}, "", true, "")
	gen("go-quoted-boundary", "gc0p4Jq0M2Yt08jU534c0p:x=y (a)", func(w *multipart.Writer) {
		file(w, "profile", "profile.pprof", noisy(800, "gc0p4Jq0M2Yt08jU534c0p:x=y (a)", 5))
	}, "", true, "")
	gen("go-escaped-filename", "", func(w *multipart.Writer) {
		file(w, "profile", `we"ird\name.pprof`, []byte("data"))
	}, "", true, "")
	gen("go-unknown-parts", "", func(w *multipart.Writer) {
		h := textproto.MIMEHeader{}
		h.Set("X-Custom", "1")
		h.Set("Content-Type", "text/plain")
		pw, _ := w.CreatePart(h) // no Content-Disposition: no name
		pw.Write([]byte("nameless"))
		h = textproto.MIMEHeader{}
		h.Set("Content-Disposition", `attachment; name="profile"; filename="a.bin"`)
		pw, _ = w.CreatePart(h) // not form-data: no form name
		pw.Write([]byte("not a form field"))
		file(w, "extra", "extra.bin", []byte("unknown part"))
		file(w, "profile", "profile.pprof", []byte("the profile"))
	}, "", true, "")
	gen("go-empty-parts", "", func(w *multipart.Writer) {
		file(w, "empty", "e.bin", nil)
		file(w, "profile", "profile.pprof", []byte("p"))
		file(w, "last", "l.bin", nil)
	}, "", true, "")
	gen("go-16-parts", "", func(w *multipart.Writer) {
		for i := 0; i < 16; i++ {
			file(w, fmt.Sprintf("p%d", i), "f.bin", []byte{byte(i)})
		}
	}, "", true, "")
	gen("go-17-parts", "", func(w *multipart.Writer) {
		for i := 0; i < 17; i++ {
			file(w, fmt.Sprintf("p%d", i), "f.bin", []byte{byte(i)})
		}
	}, "limit: at most 16 parts", false, "more than 16 parts")
	gen("go-big-header", "", func(w *multipart.Writer) {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="profile"; filename="p"`)
		h.Set("X-Padding", strings.Repeat("a", 9000))
		pw, _ := w.CreatePart(h)
		pw.Write([]byte("x"))
	}, "limit: a part's header block is at most 8192 bytes", false, "header block over 8192 bytes")
	gen("go-no-parts", "", func(w *multipart.Writer) {}, "", true, "")

	// Hand-made bodies.
	const B = "XyZ-boundary.42"
	ct := "multipart/form-data; boundary=" + B
	part := "Content-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	add("preamble-epilogue", ct, []byte("This is the preamble.\r\n--"+B+"\r\n"+part+"DATA\r\n--"+B+"--\r\nepilogue"), "", true, "")
	add("lf-line-ends", ct, []byte("--"+B+"\n"+strings.ReplaceAll(part, "\r\n", "\n")+"DATA\n--"+B+"--\n"), "", true, "")
	add("transport-padding", ct, []byte("--"+B+" \t\r\n"+part+"DATA\r\n--"+B+"\t \r\n"+part+"MORE\r\n--"+B+"-- \r\n"), "", true, "")
	add("no-final-newline", ct, []byte("--"+B+"\r\n"+part+"DATA\r\n--"+B+"--"), "", true, "")
	add("case-insensitive", "Multipart/Form-Data; BOUNDARY=\""+B+"\"", []byte("--"+B+"\r\n"+
		"content-disposition: FORM-DATA; NAME=profile; FileName=p.pprof\r\n\r\nDATA\r\n--"+B+"--\r\n"), "", true, "")
	add("unterminated", ct, []byte("--"+B+"\r\n"+part+"DATA with no closing delimiter"), "", false, "unterminated")
	add("unterminated-after-delimiter", ct, []byte("--"+B+"\r\n"+part+"DATA\r\n--"+B), "", false, "unterminated")
	add("truncated-header", ct, []byte("--"+B+"\r\nContent-Disposition: form-data; na"),
		"a body that ends inside a part's header block is refused (Go's reader takes it for the end of the body)",
		false, "header block")
	add("bad-final-line", ct, []byte("--"+B+"\r\n"+part+"DATA\r\n--"+B+"--garbage\r\n"), "", false, "boundary line")
	add("bad-delimiter-line", ct, []byte("--"+B+"\r\n"+part+"DATA\r\n--"+B+" junk\r\n"+part+"X\r\n--"+B+"--\r\n"), "", false, "boundary line")
	add("no-boundary-in-body", ct, []byte("just some bytes\r\n"), "", false, "does not contain the boundary")
	add("missing-boundary-param", "multipart/form-data", []byte("--"+B+"\r\n\r\n--"+B+"--\r\n"), "", false, "missing boundary")
	add("empty-boundary", "multipart/form-data; boundary=\"\"", []byte("--\r\n\r\n----\r\n"), "", false, "boundary")
	add("long-boundary", "multipart/form-data; boundary="+strings.Repeat("b", 71), []byte("--"+strings.Repeat("b", 71)+"--\r\n"),
		"RFC 2046: a boundary has at most 70 characters", false, "malformed boundary")
	add("not-multipart", "application/octet-stream", []byte("--"+B+"--\r\n"), "", false, "not multipart/form-data")
	add("folded-header", ct, []byte("--"+B+"\r\nContent-Disposition: form-data;\r\n name=\"profile\"\r\n\r\nDATA\r\n--"+B+"--\r\n"),
		"folded (obsolete) header lines are refused", false, "folded")
	add("header-without-colon", ct, []byte("--"+B+"\r\nthis is not a header\r\n\r\nDATA\r\n--"+B+"--\r\n"), "", false, "header")
	add("near-boundaries-in-data", ct, []byte("--"+B+"\r\n"+part+"a\r\n--"+B+"X\r\n--"+B[:5]+"\r\n-"+B+"\r\n--"+B+"--\r\n"), "", true, "")

	for i := range cases {
		c := &cases[i]
		body, err := os.ReadFile(filepath.Join(dir, c.Body))
		if err != nil {
			return err
		}
		parts, err := goRead(c.ContentType, body)
		c.GoOK = err == nil
		if err != nil {
			c.GoError = err.Error()
		} else {
			c.Parts = parts
		}
		if c.Differs == "" && c.GoOK != c.WantOK {
			return fmt.Errorf("case %s: Go's reader says ok=%v (%v), the case says %v", c.Name, c.GoOK, err, c.WantOK)
		}
	}
	b, err := json.MarshalIndent(cases, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "cases.json"), append(b, '\n'), 0o644)
}
