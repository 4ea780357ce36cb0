/* metrics.c — the --metrics file: JSON lines, one object per line, flushed
 * after each line so a crashed or interrupted run keeps what it measured.
 *
 *   {"event":"eval","epoch":E,"step":S,"samples":N,"train_loss":x,
 *    "test_loss":x,"test_accuracy":x,"train_seconds":x}       per evaluation
 *   {"event":"end","final_test_accuracy":x,"best_test_accuracy":x,
 *    "train_seconds":x,"eval_seconds":x,"time_to_target":x|null}  once, at the end
 * for class labels; for data without them (sequences, real-valued targets)
 * no accuracy, but the test loss (and, for text, bits per byte):
 *   {"event":"eval","epoch":E,"step":S,"samples":N,"train_loss":x,
 *    "test_loss":x[,"bits_per_byte":x],"train_seconds":x}
 *   {"event":"end","final_test_loss":x,"best_test_loss":x[,"final_bits_per_byte":x],
 *    "train_seconds":x,"eval_seconds":x,"time_to_target":x|null}
 *   {"event":"skipped_step","step":S,"epoch":E,"reason":"..."}  a step whose loss
 *                                    was not finite, skipped (--on-nan=skip-step)
 *   {"event":"stopped","step":S,"epoch":E,"reason":"..."}       ... that ended the run
 *
 * Numbers are printed with %.17g (they parse back to the same double);
 * non-finite numbers are null. Every write, flush and the close are
 * checked: a full disk is an ASTRT_ERR_IO naming the file, and the line it
 * cut short is taken back (the file ends with the last complete line).
 *
 * Test hook (builds with -DASTRT_TEST_HOOKS=ON only):
 * ASTRT_FAULT_METRICS_AFTER=N makes the file behave like a disk that fills
 * up after N bytes (the line that would cross N is cut there and fails with
 * ENOSPC), as ASTRT_FAULT_WRITE_AFTER does for safetensors files.
 */
#include "driver_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static astrt_status write_error(astrt_metrics *m, int err) {
  m->failed = 1;
  return astrt_fail(ASTRT_ERR_IO, "metrics file %s: write failed: %s; free some space or "
                    "choose another file with --metrics", m->path, strerror(err));
}

#ifdef ASTRT_TEST_HOOKS
static long long fault_limit(void);
#endif

/* A file that cannot be written (a full disk, /dev/full) is found before
 * training, not at the first evaluation: a regular file gets a byte at
 * `length`, taken back at once; anything else a write of no bytes (which
 * /dev/full refuses, and a terminal or pipe takes without a trace). */
static astrt_status probe(astrt_metrics *m, int64_t length) {
  int fd = fileno(m->f);
  struct stat sb;
#ifdef ASTRT_TEST_HOOKS
  long long limit = fault_limit();
  if (limit >= 0 && limit <= length) return write_error(m, ENOSPC);
#endif
  if (fstat(fd, &sb) != 0) return ASTRT_OK;
  errno = 0;
  if (!S_ISREG(sb.st_mode)) return write(fd, "", 0) < 0 ? write_error(m, errno) : ASTRT_OK;
  if (pwrite(fd, "\n", 1, (off_t)length) != 1) return write_error(m, errno ? errno : EIO);
  if (ftruncate(fd, (off_t)length) != 0) return write_error(m, errno);
  return ASTRT_OK;
}

astrt_status astrt_metrics_open(astrt_metrics *m, const char *path) {
  m->f = NULL;
  m->path = path;
  m->failed = 0;
  m->target = ASTRT_TARGET_CLASS;  /* the caller says otherwise */
  m->text = 0;
  if (!path || !*path) return ASTRT_OK;
  m->f = fopen(path, "w");
  if (!m->f)
    return astrt_fail(ASTRT_ERR_IO, "cannot create metrics file %s: %s; check the "
                      "directory exists and is writable", path, strerror(errno));
  return probe(m, 0);
}

astrt_status astrt_metrics_reopen(astrt_metrics *m, const char *path, int64_t length) {
  m->f = NULL;
  m->path = path;
  m->failed = 0;
  if (!path || !*path) return ASTRT_OK;
  m->f = fopen(path, "r+");
  if (!m->f && errno == ENOENT) m->f = fopen(path, "w+");
  if (!m->f)
    return astrt_fail(ASTRT_ERR_IO, "cannot open metrics file %s to continue it: %s", path, strerror(errno));
  /* drop what was logged after the checkpoint: those steps run again */
  if (ftruncate(fileno(m->f), (off_t)length) != 0 || fseek(m->f, 0, SEEK_END) != 0)
    return astrt_fail(ASTRT_ERR_IO, "cannot continue metrics file %s: %s", path, strerror(errno));
  return probe(m, length);
}

int64_t astrt_metrics_length(astrt_metrics *m) {
  if (!m->f) return 0;
  fflush(m->f);
  long at = ftell(m->f);
  return at < 0 ? 0 : (int64_t)at;
}

/* A JSON number, or null when v is not finite. */
static void fmt_number(double v, char *buf, size_t cap) {
  if (isfinite(v)) snprintf(buf, cap, "%.17g", v);
  else snprintf(buf, cap, "null");
}

#ifdef ASTRT_TEST_HOOKS
/* ASTRT_FAULT_METRICS_AFTER=N, or -1 */
static long long fault_limit(void) {
  const char *s = getenv("ASTRT_FAULT_METRICS_AFTER");
  if (!s || !*s) return -1;
  char *end;
  long long v = strtoll(s, &end, 10);
  return *end || v < 0 ? -1 : v;
}
#endif

/* A line that could not be written whole is taken back: the file is cut
 * to where it began (at) and what stdio still holds of it dropped, so that
 * the file ends with the last complete line. */
static astrt_status line_failed(astrt_metrics *m, long at, int err) {
  __fpurge(m->f);
  struct stat sb;
  if (at >= 0 && fstat(fileno(m->f), &sb) == 0 && S_ISREG(sb.st_mode) && ftruncate(fileno(m->f), (off_t)at) == 0)
    fseek(m->f, at, SEEK_SET);
  return write_error(m, err);
}

/* Writes one complete line and flushes it, or none of it. */
static astrt_status put_line(astrt_metrics *m, const char *line) {
  long at = ftell(m->f);
#ifdef ASTRT_TEST_HOOKS
  long long limit = fault_limit();
  if (limit >= 0) {  /* the test hook: a disk that is full after `limit` bytes */
    size_t len = strlen(line) + 1;
    if (at >= 0 && (unsigned long long)at + len > (unsigned long long)limit) {
      size_t part = limit > at ? (size_t)(limit - at) : 0;
      if (part > 0) fwrite(line, 1, part < len - 1 ? part : len - 1, m->f);
      fflush(m->f);
      return line_failed(m, at, ENOSPC);
    }
  }
#endif
  errno = 0;
  if (fputs(line, m->f) < 0 || fputc('\n', m->f) == EOF || fflush(m->f) != 0)
    return line_failed(m, at, errno ? errno : EIO);
  return ASTRT_OK;
}

double astrt_bits_per_byte(double loss) { return loss / log(2.0); }

astrt_status astrt_metrics_eval(astrt_metrics *m, const astrt_eval_record *e) {
  if (!m->f) return ASTRT_OK;
  char tl[32], vl[32], acc[32], secs[32], bpb[64] = "", line[512];
  fmt_number(e->train_loss, tl, sizeof tl);
  fmt_number(e->test_loss, vl, sizeof vl);
  fmt_number(e->test_accuracy, acc, sizeof acc);
  fmt_number(e->train_seconds, secs, sizeof secs);
  if (e->target == ASTRT_TARGET_CLASS) {
    snprintf(line, sizeof line,
             "{\"event\":\"eval\",\"epoch\":%lld,\"step\":%lld,\"samples\":%lld,"
             "\"train_loss\":%s,\"test_loss\":%s,\"test_accuracy\":%s,\"test_examples\":%lld,\"train_seconds\":%s}",
             (long long)e->epoch, (long long)e->step, (long long)e->samples, tl, vl, acc, (long long)e->test_examples,
             secs);
    return put_line(m, line);
  }
  if (e->text) {
    char v[32];
    fmt_number(astrt_bits_per_byte(e->test_loss), v, sizeof v);
    snprintf(bpb, sizeof bpb, ",\"bits_per_byte\":%s", v);
  }
  snprintf(line, sizeof line,
           "{\"event\":\"eval\",\"epoch\":%lld,\"step\":%lld,\"samples\":%lld,"
           "\"train_loss\":%s,\"test_loss\":%s%s,\"test_examples\":%lld,\"train_seconds\":%s}",
           (long long)e->epoch, (long long)e->step, (long long)e->samples, tl, vl, bpb, (long long)e->test_examples,
           secs);
  return put_line(m, line);
}

astrt_status astrt_metrics_end(astrt_metrics *m, const astrt_result *r, double compile_seconds) {
  if (!m->f) return ASTRT_OK;
  char fin[32], best[32], secs[32], evs[32], ttt[32], bpb[64] = "", comp[64] = "", line[600];
  int cls = m->target == ASTRT_TARGET_CLASS;
  fmt_number(cls ? r->final_test_accuracy : r->final_test_loss, fin, sizeof fin);
  fmt_number(cls ? r->best_test_accuracy : r->best_test_loss, best, sizeof best);
  fmt_number(r->train_seconds, secs, sizeof secs);
  fmt_number(r->eval_seconds, evs, sizeof evs);
  fmt_number(r->time_to_target >= 0 ? r->time_to_target : NAN, ttt, sizeof ttt);
  if (!cls && m->text) {
    char v[32];
    fmt_number(r->final_bits_per_byte, v, sizeof v);
    snprintf(bpb, sizeof bpb, ",\"final_bits_per_byte\":%s", v);
  }
  if (compile_seconds >= 0) {
    char v[32];
    fmt_number(compile_seconds, v, sizeof v);
    snprintf(comp, sizeof comp, ",\"compile_seconds\":%s", v);
  }
  snprintf(line, sizeof line,
           "{\"event\":\"end\",\"final_test_%s\":%s,\"best_test_%s\":%s%s,"
           "\"train_seconds\":%s,\"eval_seconds\":%s,\"time_to_target\":%s%s}",
           cls ? "accuracy" : "loss", fin, cls ? "accuracy" : "loss", best, bpb, secs, evs, ttt, comp);
  return put_line(m, line);
}

/* s as a JSON string's contents (quotes, backslashes and control bytes escaped) */
static void json_escape(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (; *s && n + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n] = '\0';
}

astrt_status astrt_metrics_event(astrt_metrics *m, const char *event, int64_t step, int64_t epoch,
                                 const char *reason) {
  if (!m->f) return ASTRT_OK;
  char why[1536], line[2048];
  json_escape(reason ? reason : "", why, sizeof why);
  snprintf(line, sizeof line, "{\"event\":\"%s\",\"step\":%lld,\"epoch\":%lld,\"reason\":\"%s\"}", event,
           (long long)step, (long long)epoch, why);
  return put_line(m, line);
}

astrt_status astrt_metrics_close(astrt_metrics *m) {
  if (!m->f) return ASTRT_OK;
  int had_error = ferror(m->f);
  errno = 0;
  int closed = fclose(m->f);
  int err = errno ? errno : EIO;
  m->f = NULL;
  if (m->failed) return ASTRT_ERR_IO;  /* reported when it happened */
  return had_error || closed != 0 ? write_error(m, err) : ASTRT_OK;
}
