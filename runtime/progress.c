/* progress.c — what a training run shows while it runs.
 *
 * Live mode (a terminal, or forced): one line rewritten with \r at most ten
 * times a second,
 *   epoch 3/15  step 2345/14070  loss 0.4123  45.2k samples/s  ETA 1m12s
 * cleared before anything else is printed. Plain mode: no live line. In both
 * modes every evaluation prints
 *   epoch 3/15: train loss 0.4123  test loss 0.3810  test accuracy 86.21%  (best 86.21%)  4.1s
 * (the time is the training time so far); for data without class labels
 * the best is the lowest test loss, and text adds its bits per byte:
 *   epoch 3/15: train loss 1.4123  test loss 1.3810  1.992 bits per byte  (best 1.3810)  4.1s
 * Quiet mode prints nothing.
 */
#include "driver_internal.h"

#include <math.h>
#include <stdio.h>
#include <unistd.h>

#define DRAW_INTERVAL 0.1  /* seconds between live redraws */

void astrt_fmt_duration(double seconds, char *buf, size_t cap) {
  if (!isfinite(seconds) || seconds < 0) seconds = 0;
  long long s = llround(seconds);
  if (s < 60) snprintf(buf, cap, "%llds", s);
  else if (s < 3600) snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
  else snprintf(buf, cap, "%lldh%02lldm", s / 3600, s / 60 % 60);
}

void astrt_fmt_rate(double per_second, char *buf, size_t cap) {
  if (!isfinite(per_second) || per_second < 0) per_second = 0;
  if (per_second < 1e3) snprintf(buf, cap, "%.0f", per_second);
  else if (per_second < 1e6) snprintf(buf, cap, "%.1fk", per_second / 1e3);
  else snprintf(buf, cap, "%.2fM", per_second / 1e6);
}

void astrt_progress_init(astrt_progress *pg, FILE *out, int mode, int quiet,
                         int64_t epochs_total, int64_t steps_total, int64_t samples_total) {
  pg->out = out;
  pg->quiet = quiet;
  pg->live = !quiet && (mode == 1 || (mode < 0 && isatty(fileno(out))));
  pg->epochs_total = epochs_total;
  pg->steps_total = steps_total;
  pg->samples_total = samples_total;
  pg->last_draw = -1e300;
  pg->line_len = 0;
}

/* Writes line over the live line, padding with blanks to hide the old one. */
static void draw(astrt_progress *pg, const char *line, int len) {
  int pad = pg->line_len > len ? pg->line_len - len : 0;
  fprintf(pg->out, "\r%s%*s", line, pad, "");
  if (pad) fprintf(pg->out, "\r%s", line);
  fflush(pg->out);
  pg->line_len = len;
}

void astrt_progress_clear(astrt_progress *pg) {
  if (!pg->live || pg->line_len == 0) return;
  fprintf(pg->out, "\r%*s\r", pg->line_len, "");
  fflush(pg->out);
  pg->line_len = 0;
}

void astrt_progress_step(astrt_progress *pg, const astrt_progress_state *s, double now,
                         int force) {
  if (!pg->live || (!force && now - pg->last_draw < DRAW_INTERVAL)) return;
  pg->last_draw = now;
  char rate[32], eta[32], line[256];
  double per_sample = s->samples > 0 ? s->train_seconds / (double)s->samples : 0;
  astrt_fmt_rate(per_sample > 0 ? 1.0 / per_sample : 0, rate, sizeof rate);
  astrt_fmt_duration(per_sample * (double)(pg->samples_total - s->samples), eta, sizeof eta);
  int len = snprintf(line, sizeof line,
                     "epoch %lld/%lld  step %lld/%lld  loss %.4f  %s samples/s  ETA %s",
                     (long long)s->epoch, (long long)pg->epochs_total, (long long)s->step,
                     (long long)pg->steps_total, s->loss, rate, eta);
  if (len < 0) return;
  draw(pg, line, len < (int)sizeof line ? len : (int)sizeof line - 1);
}

/* "4.1s" below 100 s, "1m12s" above. */
static void fmt_elapsed(double seconds, char *buf, size_t cap) {
  if (seconds < 100) snprintf(buf, cap, "%.1fs", seconds);
  else astrt_fmt_duration(seconds, buf, cap);
}

void astrt_progress_eval(astrt_progress *pg, const astrt_eval_record *e) {
  if (pg->quiet) return;
  astrt_progress_clear(pg);
  char elapsed[32], when[64];
  fmt_elapsed(e->train_seconds, elapsed, sizeof elapsed);
  /* an evaluation between epoch ends is named by its step */
  if (e->periodic) snprintf(when, sizeof when, "step %lld/%lld", (long long)e->step, (long long)e->steps_total);
  else snprintf(when, sizeof when, "epoch %lld/%lld", (long long)e->epoch, (long long)pg->epochs_total);
  if (e->target == ASTRT_TARGET_CLASS)
    fprintf(pg->out,
            "%s: train loss %.4f  test loss %.4f  test accuracy %.2f%%  "
            "(best %.2f%%)  %s\n",
            when, e->train_loss, e->test_loss, 100.0 * e->test_accuracy, 100.0 * e->best_accuracy, elapsed);
  else if (e->text)
    fprintf(pg->out, "%s: train loss %.4f  test loss %.4f  %.3f bits per byte  (best %.4f)  %s\n", when,
            e->train_loss, e->test_loss, astrt_bits_per_byte(e->test_loss), e->best_loss, elapsed);
  else
    fprintf(pg->out, "%s: train loss %.4f  test loss %.4f  (best %.4f)  %s\n", when, e->train_loss, e->test_loss,
            e->best_loss, elapsed);
  fflush(pg->out);
  pg->last_draw = -1e300;  /* redraw the live line at the next step */
}
