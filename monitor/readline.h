/*
 * Line editing for an interactive HMP monitor: a pure state machine fed
 * input bytes.  It echoes (VT100 sequences) through out() and hands each
 * completed line to line().  Keys: printable insert at the cursor,
 * Backspace/DEL, Delete (ESC [ 3 ~, Ctrl-D), Left/Right (ESC [ D / C,
 * Ctrl-B / Ctrl-F), Home/End (ESC [ H / F, ESC O H / F, ESC [ 1 ~ / 4 ~,
 * Ctrl-A / Ctrl-E), Ctrl-K (kill to end), Ctrl-U (kill to start), Ctrl-W
 * (kill previous word), Up/Down history (ESC [ A / B, Ctrl-P / Ctrl-N),
 * Enter (CR, LF; CR LF counts once).  Other control bytes are ignored.
 */
#ifndef VMM_MONITOR_READLINE_H
#define VMM_MONITOR_READLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define READLINE_MAX     4096   /* longest line, with its NUL */
#define READLINE_HISTORY 64

typedef struct ReadLine {
    char buf[READLINE_MAX];
    size_t len, pos;            /* bytes in buf, cursor */
    bool too_long;              /* input was dropped: the line is refused */
    bool last_was_cr;           /* swallow the LF of a CR LF */
    int esc;                    /* escape sequence state (readline.c) */
    unsigned esc_param;
    char *history[READLINE_HISTORY];   /* oldest first */
    unsigned hist_len;
    unsigned hist_pos;          /* == hist_len: editing a new line */
    char *saved;                /* the new line while browsing history */
    bool echo;
    void (*out)(void *opaque, const char *s, size_t len);
    /* line is NULL when the line was longer than READLINE_MAX - 1. */
    void (*line)(void *opaque, const char *line);
    void *opaque;
} ReadLine;

void readline_init(ReadLine *rl, bool echo,
                   void (*out)(void *opaque, const char *s, size_t len),
                   void (*line)(void *opaque, const char *line), void *opaque);
/* Forget the line being edited (a new client); history stays. */
void readline_reset(ReadLine *rl);
void readline_free(ReadLine *rl);
void readline_feed(ReadLine *rl, const uint8_t *buf, size_t len);
void readline_feed_byte(ReadLine *rl, uint8_t byte);

#endif
