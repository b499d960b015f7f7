'use strict';
/*
 * sigv4.js — verification of AWS Signature Version 4 (header form) for the
 * test S3 server's front end.
 *
 * s3rver accepts any signature, so a client that signs wrongly would pass
 * every test against it and fail against AWS or MinIO. The front end calls
 * verify() on every request and answers S3's own error when it fails. The
 * canonical request is rebuilt the way S3 does it: the path is decoded and
 * re-encoded per RFC 3986 (unreserved characters kept, '/' kept, uppercase
 * hex), query names and values are decoded, re-encoded ('/' as %2F), sorted
 * by name then value, and an empty value is written as "name=". Signed
 * header values are trimmed and inner runs of spaces collapsed; repeated
 * headers are joined with ','. The module has no dependencies so it can be
 * checked on its own against the worked examples of the AWS documentation
 * (test-sigv4.js).
 */
const crypto = require('crypto');

const EMPTY_SHA256 = crypto.createHash('sha256').update('').digest('hex');

/* RFC 3986 encoding as SigV4 wants it: A-Z a-z 0-9 - _ . ~ kept, every other
 * byte of the UTF-8 form as %XX with uppercase hex, '/' kept when keepSlash. */
function uriEncode(str, keepSlash) {
  const bytes = Buffer.isBuffer(str) ? str : Buffer.from(str, 'utf8');
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    if ((b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
        c === '-' || c === '_' || c === '.' || c === '~' || (keepSlash && c === '/')) {
      out += c;
    } else {
      out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
  }
  return out;
}

/* Percent-decoding to bytes ('+' stays a plus: S3 clients encode spaces as
 * %20). Throws on a malformed escape. */
function pctDecode(s) {
  const out = [];
  const src = Buffer.from(s, 'utf8');
  for (let i = 0; i < src.length; i++) {
    if (src[i] === 0x25) {
      const hex = src.slice(i + 1, i + 3).toString('latin1');
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`malformed percent escape in "${s}"`);
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(src[i]);
    }
  }
  return Buffer.from(out);
}

function canonicalUri(rawPath) {
  return rawPath.split('/').map(seg => uriEncode(pctDecode(seg), false)).join('/') || '/';
}

function canonicalQuery(rawQuery) {
  if (!rawQuery) return '';
  const pairs = rawQuery.split('&').filter(p => p.length > 0).map(p => {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    return [uriEncode(pctDecode(name), false), uriEncode(pctDecode(value), false)];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

function hmac(key, data) {
  return crypto.createHmac('sha256', key).update(data, 'utf8').digest();
}

function signingKey(secret, date, region, service) {
  return hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
}

/* Parses "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b, Signature=hex". Returns null when malformed. */
function parseAuthorization(value) {
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(value || '');
  if (!m) return null;
  const fields = {};
  for (const part of m[1].split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) return null;
  const cred = fields.Credential.split('/');
  if (cred.length !== 5 || cred[4] !== 'aws4_request') return null;
  return {
    accessKey: cred[0], date: cred[1], region: cred[2], service: cred[3],
    signedHeaders: fields.SignedHeaders.split(';'), signature: fields.Signature,
  };
}

/*
 * Computes the signature of a request.
 *   req: { method, path (raw, as on the wire), query (raw, without '?'),
 *          headers: { lowercase name: value or [values] }, payloadHash }
 *   auth: { date, region, service, signedHeaders: [...] }
 * Returns { canonicalRequest, stringToSign, signature }.
 */
function sign(req, auth, secret, amzDate) {
  const headerLines = auth.signedHeaders.map(name => {
    let v = req.headers[name];
    if (v === undefined) throw new Error(`signed header "${name}" is missing from the request`);
    if (Array.isArray(v)) v = v.map(x => x.trim().replace(/ +/g, ' ')).join(',');
    else v = String(v).trim().replace(/ +/g, ' ');
    return `${name}:${v}\n`;
  }).join('');
  const canonicalRequest = [
    req.method,
    canonicalUri(req.path),
    canonicalQuery(req.query),
    headerLines,
    auth.signedHeaders.join(';'),
    req.payloadHash,
  ].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = [
    'AWS4-HMAC-SHA256',
    amzDate,
    scope,
    crypto.createHash('sha256').update(canonicalRequest, 'utf8').digest('hex'),
  ].join('\n');
  const signature = crypto.createHmac('sha256', signingKey(secret, auth.date, auth.region, auth.service))
    .update(stringToSign, 'utf8').digest('hex');
  return { canonicalRequest, stringToSign, signature };
}

class S3Error extends Error {
  constructor(status, code, message, extra) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra || {};
  }
}

/*
 * Verifies a request against a map accessKey -> secret.
 *   req: as for sign(), plus body (Buffer) to check x-amz-content-sha256.
 *   opts: { region (expected, default us-east-1), now (ms, default Date.now()),
 *           skewMs (default 15 min), checkDate (default true) }
 * Returns the access key on success; throws S3Error like S3 would answer.
 */
function verify(req, keys, opts) {
  opts = opts || {};
  const region = opts.region || 'us-east-1';
  const authz = req.headers.authorization;
  if (authz === undefined) throw new S3Error(403, 'AccessDenied', 'Access Denied');
  const auth = parseAuthorization(Array.isArray(authz) ? authz[0] : authz);
  if (!auth) {
    throw new S3Error(400, 'AuthorizationHeaderMalformed',
      'The authorization header is malformed; it must be AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...');
  }
  const secret = keys.get(auth.accessKey);
  if (secret === undefined) {
    throw new S3Error(403, 'InvalidAccessKeyId',
      'The AWS Access Key Id you provided does not exist in our records.', { AWSAccessKeyId: auth.accessKey });
  }
  if (auth.region !== region) {
    throw new S3Error(400, 'AuthorizationHeaderMalformed',
      `The authorization header is malformed; the region '${auth.region}' is wrong; expecting '${region}'`, { Region: region });
  }
  if (auth.service !== 's3') {
    throw new S3Error(400, 'AuthorizationHeaderMalformed',
      `The authorization header is malformed; incorrect service "${auth.service}". This endpoint belongs to "s3".`);
  }
  if (!auth.signedHeaders.includes('host')) {
    throw new S3Error(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed; host must be signed');
  }
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) {
    throw new S3Error(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
  }
  if (amzDate.slice(0, 8) !== auth.date) {
    throw new S3Error(403, 'SignatureDoesNotMatch',
      'The credential scope date does not match the date of x-amz-date.');
  }
  if (opts.checkDate !== false) {
    const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8),
      +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
    const now = opts.now !== undefined ? opts.now : Date.now();
    if (Math.abs(now - t) > (opts.skewMs || 15 * 60 * 1000)) {
      throw new S3Error(403, 'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.', { RequestTime: amzDate });
    }
  }
  const payloadHash = req.headers['x-amz-content-sha256'];
  if (payloadHash === undefined) {
    throw new S3Error(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
  }
  if (payloadHash !== 'UNSIGNED-PAYLOAD') {
    if (!/^[0-9a-f]{64}$/.test(payloadHash)) {
      throw new S3Error(400, 'InvalidArgument', 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid sha256 value.');
    }
    if (req.body) {
      const actual = crypto.createHash('sha256').update(req.body).digest('hex');
      if (actual !== payloadHash) {
        throw new S3Error(400, 'XAmzContentSHA256Mismatch',
          "The provided 'x-amz-content-sha256' header does not match what was computed.",
          { ClientComputedContentSHA256: payloadHash, S3ComputedContentSHA256: actual });
      }
    }
  }
  let computed;
  try {
    computed = sign({ ...req, payloadHash }, auth, secret, amzDate);
  } catch (e) {
    throw new S3Error(403, 'SignatureDoesNotMatch', e.message);
  }
  const a = Buffer.from(computed.signature, 'utf8');
  const b = Buffer.from(auth.signature, 'utf8');
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) {
    throw new S3Error(403, 'SignatureDoesNotMatch',
      'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      { AWSAccessKeyId: auth.accessKey, StringToSign: computed.stringToSign,
        SignatureProvided: auth.signature, CanonicalRequest: computed.canonicalRequest });
  }
  return auth.accessKey;
}

module.exports = { uriEncode, canonicalUri, canonicalQuery, parseAuthorization, sign, verify, S3Error, EMPTY_SHA256 };
