/*
 * svc_config.c — the table-driven flag parser (see svc_config.h). Values are
 * parsed by one function whatever their source, so a default, an environment
 * variable and a flag are checked by the same rules and produce the same
 * messages, each naming where the bad value came from.
 */
#include "svc_config.h"

#include "svc_util.h"

#include "chrono.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void svc_flag_env_name(const svc_flag *f, char *buf, size_t buflen) {
  if (f->env) {
    snprintf(buf, buflen, "%s", f->env);
    return;
  }
  size_t o = (size_t)snprintf(buf, buflen, "PGOPIPE_");
  for (const char *p = f->name; *p && o + 1 < buflen; p++)
    buf[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  if (o < buflen) buf[o] = '\0';
}

void svc_flag_alias_name(const svc_flag *f, char *buf, size_t buflen) {
  if (buflen) buf[0] = '\0';
  if (f->env) return;
  size_t o = (size_t)snprintf(buf, buflen, "AUTOPGO_");
  for (const char *p = f->name; *p && o + 1 < buflen; p++)
    buf[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
  if (o < buflen) buf[o] = '\0';
}

svc_flag *svc_flags_find(svc_flag *flags, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(flags[i].name, name) == 0) return &flags[i];
  return NULL;
}

static int parse_bool(const char *v, int *out) {
  static const char *t[] = {"1", "true", "yes", "on"}, *f[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(v, t[i]) == 0) { *out = 1; return 0; }
    if (strcasecmp(v, f[i]) == 0) { *out = 0; return 0; }
  }
  return -1;
}

/* Stores value v into f->dest. `from` names the source for messages. */
static int set_value(svc_flag *f, const char *v, const char *from, char *err, size_t errlen) {
  char msg[256];
  switch (f->type) {
  case SVC_FLAG_STRING:
    *(const char **)f->dest = v;
    return 0;
  case SVC_FLAG_INT: {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno) {
      snprintf(err, errlen, "%s: bad integer \"%s\"", from, v);
      return -1;
    }
    *(int64_t *)f->dest = x;
    return 0;
  }
  case SVC_FLAG_BOOL:
    if (parse_bool(v, (int *)f->dest) != 0) {
      snprintf(err, errlen, "%s: bad boolean \"%s\" (want true or false)", from, v);
      return -1;
    }
    return 0;
  case SVC_FLAG_DURATION:
    if (chrono_parse_duration(v, (int64_t *)f->dest, msg, sizeof msg) != 0) {
      snprintf(err, errlen, "%s: %s", from, msg);
      return -1;
    }
    return 0;
  case SVC_FLAG_SIZE:
    if (svc_parse_size(v, (uint64_t *)f->dest, msg, sizeof msg) != 0) {
      snprintf(err, errlen, "%s: %s", from, msg);
      return -1;
    }
    return 0;
  }
  snprintf(err, errlen, "%s: unknown flag type", from);
  return -1;
}

static void clear_value(svc_flag *f) {
  switch (f->type) {
  case SVC_FLAG_STRING: *(const char **)f->dest = NULL; break;
  case SVC_FLAG_INT: *(int64_t *)f->dest = 0; break;
  case SVC_FLAG_BOOL: *(int *)f->dest = 0; break;
  case SVC_FLAG_DURATION: *(int64_t *)f->dest = 0; break;
  case SVC_FLAG_SIZE: *(uint64_t *)f->dest = 0; break;
  }
}

int svc_flags_parse(svc_flag *flags, size_t n, int argc, char **argv, char **pos, int *npos,
                    char *err, size_t errlen) {
  char from[128], envname[128];
  int np = 0;
  if (npos) *npos = 0;

  for (size_t i = 0; i < n; i++) {
    svc_flag *f = &flags[i];
    f->source = SVC_SRC_DEFAULT;
    clear_value(f);
    if (f->def) {
      snprintf(from, sizeof from, "default of --%s", f->name);
      if (set_value(f, f->def, from, err, errlen) != 0) return SVC_FLAGS_EUSAGE;
    }
  }
  for (size_t i = 0; i < n; i++) {
    svc_flag *f = &flags[i];
    if (f->env && !*f->env) continue;
    svc_flag_env_name(f, envname, sizeof envname);
    const char *v = getenv(envname);
    if (!v && !f->env) {
      /* autopgo's name of the same variable: AUTOPGO_<FLAG> */
      svc_flag_alias_name(f, envname, sizeof envname);
      v = getenv(envname);
    }
    if (!v) continue;
    if (set_value(f, v, envname, err, errlen) != 0) return SVC_FLAGS_EUSAGE;
    f->source = SVC_SRC_ENV;
  }

  int only_pos = 0;
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    svc_flag *f = NULL;
    const char *val = NULL;
    if (only_pos || arg[0] != '-' || arg[1] == '\0') {
      if (!pos) {
        snprintf(err, errlen, "unexpected argument \"%s\"", arg);
        return SVC_FLAGS_EUSAGE;
      }
      pos[np++] = argv[a];
      continue;
    }
    if (strcmp(arg, "--") == 0) { only_pos = 1; continue; }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) return SVC_FLAGS_HELP;
    if (strcmp(arg, "--version") == 0) return SVC_FLAGS_VERSION;
    if (arg[1] == '-') {
      const char *name = arg + 2;
      const char *eq = strchr(name, '=');
      size_t nl = eq ? (size_t)(eq - name) : strlen(name);
      for (size_t i = 0; i < n; i++)
        if (strlen(flags[i].name) == nl && strncmp(flags[i].name, name, nl) == 0) f = &flags[i];
      if (!f) {
        snprintf(err, errlen, "unknown flag --%.*s", (int)nl, name);
        return SVC_FLAGS_EUSAGE;
      }
      if (eq) val = eq + 1;
      snprintf(from, sizeof from, "--%s", f->name);
    } else {
      for (size_t i = 0; i < n; i++)
        if (flags[i].short_name && flags[i].short_name == arg[1]) f = &flags[i];
      if (!f) {
        snprintf(err, errlen, "unknown flag -%c", arg[1]);
        return SVC_FLAGS_EUSAGE;
      }
      if (arg[2]) val = arg[2] == '=' ? arg + 3 : arg + 2;
      snprintf(from, sizeof from, "-%c", f->short_name);
    }
    if (!val) {
      if (f->type == SVC_FLAG_BOOL) {
        val = "true";
      } else {
        if (a + 1 >= argc) {
          snprintf(err, errlen, "%s needs a value", from);
          return SVC_FLAGS_EUSAGE;
        }
        val = argv[++a];
      }
    }
    if (set_value(f, val, from, err, errlen) != 0) return SVC_FLAGS_EUSAGE;
    f->source = SVC_SRC_FLAG;
  }
  if (npos) *npos = np;
  return SVC_FLAGS_OK;
}

static const char *metavar(const svc_flag *f) {
  if (f->metavar) return f->metavar;
  switch (f->type) {
  case SVC_FLAG_STRING: return "STRING";
  case SVC_FLAG_INT: return "N";
  case SVC_FLAG_BOOL: return NULL;
  case SVC_FLAG_DURATION: return "DURATION";
  case SVC_FLAG_SIZE: return "BYTES";
  }
  return NULL;
}

void svc_flags_help(FILE *out, const svc_cmd *cmd, const svc_flag *flags, size_t n) {
  char left[160], envname[128];
  fprintf(out, "Usage: %s [flags]%s%s\n", cmd->name, cmd->args ? " " : "", cmd->args ? cmd->args : "");
  if (cmd->summary) fprintf(out, "\n%s\n", cmd->summary);
  fprintf(out, "\nFlags (each also read from the environment variable shown, or from its autopgo name\n"
               "AUTOPGO_<FLAG>; the flag wins, then PGOPIPE_, then AUTOPGO_):\n");
  for (size_t i = 0; i < n; i++) {
    const svc_flag *f = &flags[i];
    const char *mv = metavar(f);
    if (f->short_name)
      snprintf(left, sizeof left, "  -%c, --%s%s%s", f->short_name, f->name, mv ? " " : "", mv ? mv : "");
    else
      snprintf(left, sizeof left, "      --%s%s%s", f->name, mv ? " " : "", mv ? mv : "");
    fprintf(out, "%-36s %s", left, f->help ? f->help : "");
    int quiet_default = f->type == SVC_FLAG_BOOL && f->def && strcasecmp(f->def, "false") == 0;
    if (f->def && *f->def && !quiet_default) fprintf(out, " (default %s)", f->def);
    if (!(f->env && !*f->env)) {
      svc_flag_env_name(f, envname, sizeof envname);
      fprintf(out, " [$%s]", envname);
    }
    fputc('\n', out);
  }
  fprintf(out, "%-36s %s\n%-36s %s\n", "  -h, --help", "show this help and exit", "      --version",
          "show the version and exit");
}

void svc_flags_version(FILE *out, const svc_cmd *cmd) { fprintf(out, "%s %s\n", cmd->name, svc_version()); }

int svc_flags_main(const svc_cmd *cmd, svc_flag *flags, size_t n, int argc, char **argv, char **pos,
                   int *npos) {
  char err[1024];
  int rc = svc_flags_parse(flags, n, argc, argv, pos, npos, err, sizeof err);
  if (rc == SVC_FLAGS_HELP) {
    svc_flags_help(stdout, cmd, flags, n);
    return 0;
  }
  if (rc == SVC_FLAGS_VERSION) {
    svc_flags_version(stdout, cmd);
    return 0;
  }
  if (rc != SVC_FLAGS_OK) {
    fprintf(stderr, "%s: %s (see --help)\n", cmd->name, err);
    return 2;
  }
  return -1;
}
