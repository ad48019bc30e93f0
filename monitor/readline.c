/*
 * HMP line editing (see readline.h).  The terminal is driven with the
 * VT100/ECMA-48 sequences every terminal emulator understands: CSI n D / C
 * (cursor left / right) and CSI K (erase to end of line).  After each edit
 * the changed tail of the line is redrawn and the cursor put back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readline.h"
#include "util.h"

enum { ESC_NONE, ESC_SEEN, ESC_CSI, ESC_SS3 };

#define KEY_CTRL(c) ((c) - 'A' + 1)

void readline_init(ReadLine *rl, bool echo,
                   void (*out)(void *opaque, const char *s, size_t len),
                   void (*line)(void *opaque, const char *line), void *opaque)
{
    memset(rl, 0, sizeof(*rl));
    rl->echo = echo;
    rl->out = out;
    rl->line = line;
    rl->opaque = opaque;
}

void readline_reset(ReadLine *rl)
{
    rl->len = rl->pos = 0;
    rl->buf[0] = '\0';
    rl->too_long = false;
    rl->last_was_cr = false;
    rl->esc = ESC_NONE;
    rl->hist_pos = rl->hist_len;
    free(rl->saved);
    rl->saved = NULL;
}

void readline_free(ReadLine *rl)
{
    for (unsigned i = 0; i < rl->hist_len; i++)
        free(rl->history[i]);
    rl->hist_len = 0;
    readline_reset(rl);
}

/* ------------------------------------------------------------- output */

static void emit(ReadLine *rl, const char *s, size_t len)
{
    if (rl->echo && rl->out && len)
        rl->out(rl->opaque, s, len);
}

static void emit_str(ReadLine *rl, const char *s)
{
    emit(rl, s, strlen(s));
}

/* Move the terminal cursor n columns: CSI n D (left) / CSI n C (right). */
static void cursor_move(ReadLine *rl, long n)
{
    char seq[32];
    if (n == 0)
        return;
    snprintf(seq, sizeof(seq), "\033[%ld%c", n < 0 ? -n : n, n < 0 ? 'D' : 'C');
    emit_str(rl, seq);
}

/*
 * The buffer changed from index `from` on while the terminal cursor sat at
 * old_pos: go to `from`, print the new tail, erase what is left of the old
 * one, and put the cursor at rl->pos.
 */
static void redraw_from(ReadLine *rl, size_t from, size_t old_pos)
{
    cursor_move(rl, (long)from - (long)old_pos);
    emit(rl, rl->buf + from, rl->len - from);
    emit_str(rl, "\033[K");
    cursor_move(rl, (long)rl->pos - (long)rl->len);
}

static void set_cursor(ReadLine *rl, size_t pos)
{
    cursor_move(rl, (long)pos - (long)rl->pos);
    rl->pos = pos;
}

/* ------------------------------------------------------------ editing */

static void insert_byte(ReadLine *rl, char c)
{
    if (rl->len + 1 >= sizeof(rl->buf)) {
        rl->too_long = true;   /* refused at Enter: never run half a line */
        return;
    }
    memmove(rl->buf + rl->pos + 1, rl->buf + rl->pos, rl->len - rl->pos);
    rl->buf[rl->pos] = c;
    rl->len++;
    rl->buf[rl->len] = '\0';
    size_t old = rl->pos++;
    if (rl->pos == rl->len)
        emit(rl, &c, 1);   /* appending: a plain echo */
    else
        redraw_from(rl, old, old);
}

/* Remove [from, to) and leave the cursor at from. */
static void delete_range(ReadLine *rl, size_t from, size_t to)
{
    if (from >= to)
        return;
    size_t old = rl->pos;
    memmove(rl->buf + from, rl->buf + to, rl->len - to);
    rl->len -= to - from;
    rl->buf[rl->len] = '\0';
    rl->pos = from;
    redraw_from(rl, from, old);
}

static void backspace(ReadLine *rl)
{
    if (rl->pos > 0)
        delete_range(rl, rl->pos - 1, rl->pos);
}

static void delete_char(ReadLine *rl)
{
    if (rl->pos < rl->len)
        delete_range(rl, rl->pos, rl->pos + 1);
}

/* Ctrl-W: the white space before the cursor, then the word before that. */
static void kill_word(ReadLine *rl)
{
    size_t p = rl->pos;
    while (p > 0 && rl->buf[p - 1] == ' ')
        p--;
    while (p > 0 && rl->buf[p - 1] != ' ')
        p--;
    delete_range(rl, p, rl->pos);
}

/* Replace the whole line (history browsing). */
static void set_line(ReadLine *rl, const char *text)
{
    size_t old = rl->pos;
    snprintf(rl->buf, sizeof(rl->buf), "%s", text);
    rl->len = rl->pos = strlen(rl->buf);
    redraw_from(rl, 0, old);
}

/* ------------------------------------------------------------ history */

static void history_add(ReadLine *rl, const char *line)
{
    if (!*line)
        return;
    if (rl->hist_len && !strcmp(rl->history[rl->hist_len - 1], line))
        return;   /* no duplicate of the previous entry */
    if (rl->hist_len == READLINE_HISTORY) {
        free(rl->history[0]);
        memmove(rl->history, rl->history + 1, (READLINE_HISTORY - 1) * sizeof(char *));
        rl->hist_len--;
    }
    rl->history[rl->hist_len++] = xstrdup(line);
}

static void history_up(ReadLine *rl)
{
    if (rl->hist_pos == 0)
        return;
    if (rl->hist_pos == rl->hist_len) {
        free(rl->saved);
        rl->saved = xstrdup(rl->buf);
    }
    rl->hist_pos--;
    set_line(rl, rl->history[rl->hist_pos]);
}

static void history_down(ReadLine *rl)
{
    if (rl->hist_pos >= rl->hist_len)
        return;
    rl->hist_pos++;
    if (rl->hist_pos == rl->hist_len) {
        set_line(rl, rl->saved ? rl->saved : "");
        free(rl->saved);
        rl->saved = NULL;
    } else {
        set_line(rl, rl->history[rl->hist_pos]);
    }
}

/* -------------------------------------------------------------- enter */

static void enter(ReadLine *rl)
{
    bool too_long = rl->too_long;
    char *line = xstrdup(rl->buf);
    emit_str(rl, "\r\n");
    if (!too_long)
        history_add(rl, line);
    readline_reset(rl);
    /* The callback may print, reset us or feed more: state is clean now. */
    if (rl->line)
        rl->line(rl->opaque, too_long ? NULL : line);
    free(line);
}

/* ------------------------------------------------------ escape codes */

static void csi_final(ReadLine *rl, uint8_t c)
{
    switch (c) {
    case 'A': history_up(rl); break;
    case 'B': history_down(rl); break;
    case 'C': if (rl->pos < rl->len) set_cursor(rl, rl->pos + 1); break;
    case 'D': if (rl->pos > 0) set_cursor(rl, rl->pos - 1); break;
    case 'H': set_cursor(rl, 0); break;
    case 'F': set_cursor(rl, rl->len); break;
    case '~':
        /* VT220 keys: 1/7 Home, 4/8 End, 3 Delete. */
        if (rl->esc_param == 1 || rl->esc_param == 7)
            set_cursor(rl, 0);
        else if (rl->esc_param == 4 || rl->esc_param == 8)
            set_cursor(rl, rl->len);
        else if (rl->esc_param == 3)
            delete_char(rl);
        break;
    default:
        break;   /* unknown sequence: ignored */
    }
}

/* Returns true when the byte belonged to an escape sequence. */
static bool handle_escape(ReadLine *rl, uint8_t c)
{
    switch (rl->esc) {
    case ESC_SEEN:
        rl->esc = c == '[' ? ESC_CSI : c == 'O' ? ESC_SS3 : ESC_NONE;
        rl->esc_param = 0;
        return true;
    case ESC_CSI:
        if (c >= '0' && c <= '9') {
            if (rl->esc_param < 1000)
                rl->esc_param = rl->esc_param * 10 + (c - '0');
            return true;
        }
        if (c == ';')
            return true;   /* modifiers (ESC [ 1 ; 5 C): ignored */
        rl->esc = ESC_NONE;
        if (c >= 0x40 && c <= 0x7e)
            csi_final(rl, c);
        return true;
    case ESC_SS3:
        rl->esc = ESC_NONE;
        rl->esc_param = 0;
        csi_final(rl, c);   /* ESC O A..D, H, F: same meanings */
        return true;
    default:
        return false;
    }
}

/* ------------------------------------------------------------- input */

static void control_key(ReadLine *rl, uint8_t c)
{
    switch (c) {
    case KEY_CTRL('A'): set_cursor(rl, 0); break;
    case KEY_CTRL('E'): set_cursor(rl, rl->len); break;
    case KEY_CTRL('B'): if (rl->pos > 0) set_cursor(rl, rl->pos - 1); break;
    case KEY_CTRL('F'): if (rl->pos < rl->len) set_cursor(rl, rl->pos + 1); break;
    case KEY_CTRL('D'): delete_char(rl); break;
    case KEY_CTRL('K'): delete_range(rl, rl->pos, rl->len); break;
    case KEY_CTRL('U'): delete_range(rl, 0, rl->pos); break;
    case KEY_CTRL('W'): kill_word(rl); break;
    case KEY_CTRL('P'): history_up(rl); break;
    case KEY_CTRL('N'): history_down(rl); break;
    case KEY_CTRL('H'):
    case 0x7f: backspace(rl); break;
    case 0x1b: rl->esc = ESC_SEEN; break;
    default: break;   /* other control bytes: ignored */
    }
}

void readline_feed_byte(ReadLine *rl, uint8_t c)
{
    bool after_cr = rl->last_was_cr;
    rl->last_was_cr = false;
    if (handle_escape(rl, c))
        return;
    if (c == '\r' || c == '\n') {
        if (c == '\n' && after_cr)
            return;   /* the LF of a CR LF */
        rl->last_was_cr = c == '\r';
        enter(rl);
        rl->last_was_cr = c == '\r';   /* enter() reset it */
        return;
    }
    if (c < 0x20 || c == 0x7f) {
        control_key(rl, c);
        return;
    }
    insert_byte(rl, (char)c);   /* printable ASCII and UTF-8 bytes */
}

void readline_feed(ReadLine *rl, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        readline_feed_byte(rl, buf[i]);
}
