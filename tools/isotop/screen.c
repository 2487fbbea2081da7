/*
 * screen.c - isotop's curses front end.
 *
 * One wtimeout/wgetch loop, as varnishstat does it: wait for a key until
 * the next refresh is due, then sample, lay out a frame (frame.c decides
 * the content) and draw it with werase + wnoutrefresh + doupdate, so curses
 * sends only what changed and the screen never flickers. KEY_RESIZE just
 * redraws at the new size. Nothing here reads the segment directly.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curses.h>

#include "detail.h"
#include "isotop.h"
#include "../common/clock.h"

/* The +/- keys step through these intervals. */
static const double top_steps[] = { 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60 };
#define TOP_N_STEPS (sizeof(top_steps) / sizeof(top_steps[0]))

#define TOP_KEY_ESC 27
#define TOP_KEY_CTRL(c) ((c) & 0x1f)

/* What fills the screen: the table, the key help (?) or one account (Enter). */
enum top_mode { TOP_MODE_TABLE = 0, TOP_MODE_HELP, TOP_MODE_DETAIL };

struct top_screen {
	struct top_app *app;
	enum top_mode mode;
	size_t cursor;              /* selected table line (Enter shows it) */
	struct top_detail detail;   /* the account of TOP_MODE_DETAIL */
	attr_t attr[TOP_ST__COUNT]; /* curses attributes per frame style */
	bool prompt;                /* typing a filter */
	char input[TOP_FILTER_MAX + 1];
	size_t scroll;              /* first table line shown */
	size_t table_h;             /* table lines that fit */
	size_t rows_total;
	unsigned long frames;
	uint64_t next_ns;           /* when the next sample is due */
};

static void top_colours(struct top_screen *s)
{
	static const struct { int fg; attr_t extra; } health[ISO_HEALTH__COUNT] = {
		[ISO_HEALTHY] = { COLOR_GREEN, 0 },
		[ISO_DEGRADED] = { COLOR_YELLOW, 0 },
		[ISO_RECOVERING] = { COLOR_CYAN, 0 },
		[ISO_QUARANTINED] = { COLOR_RED, A_BOLD },
		[ISO_FAILING] = { COLOR_MAGENTA, A_BOLD },
	};
	/* Without colours, attributes alone still rank the states. */
	static const attr_t mono[ISO_HEALTH__COUNT] = {
		[ISO_HEALTHY] = A_NORMAL,
		[ISO_DEGRADED] = A_BOLD,
		[ISO_RECOVERING] = A_UNDERLINE,
		[ISO_QUARANTINED] = A_REVERSE,
		[ISO_FAILING] = A_REVERSE | A_BOLD,
	};
	bool colour = has_colors() && start_color() == OK;

	s->attr[TOP_ST_NORMAL] = A_NORMAL;
	s->attr[TOP_ST_TITLE] = A_BOLD;
	s->attr[TOP_ST_COLUMNS] = A_REVERSE;
	s->attr[TOP_ST_GROUP] = A_BOLD | A_UNDERLINE;
	s->attr[TOP_ST_DIM] = A_DIM;
	s->attr[TOP_ST_ALERT] = A_REVERSE | A_BOLD;
	s->attr[TOP_ST_GOOD] = A_BOLD;
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		s->attr[TOP_ST_HEALTH + h] = mono[h];
	if (!colour)
		return;
	use_default_colors();
	for (int h = 0; h < ISO_HEALTH__COUNT; h++) {
		init_pair((short)(1 + h), (short)health[h].fg, -1);
		s->attr[TOP_ST_HEALTH + h] = COLOR_PAIR(1 + h) | health[h].extra;
	}
	init_pair(10, COLOR_WHITE, COLOR_RED);
	s->attr[TOP_ST_ALERT] = COLOR_PAIR(10) | A_BOLD;
	s->attr[TOP_ST_GOOD] = COLOR_PAIR(1 + ISO_HEALTHY) | A_BOLD;
}

/* Draw @l at row @y, clipped to the screen; a bar style fills the row. */
static void top_draw_line(struct top_screen *s, int y,
			  const struct top_line *l)
{
	int cols = COLS, x = 0;
	size_t pos = 0;

	if (y < 0 || y >= LINES)
		return;
	wmove(stdscr, y, 0);
	for (unsigned i = 0; i <= l->n_spans && x < cols; i++) {
		size_t start = i < l->n_spans ? l->spans[i].start : l->len;
		size_t len;

		/* Plain text before this span, then the span itself. */
		if (start > pos) {
			len = start - pos;
			if ((int)len > cols - x)
				len = (size_t)(cols - x);
			wattrset(stdscr, s->attr[TOP_ST_NORMAL]);
			waddnstr(stdscr, l->text + pos, (int)len);
			x += (int)len;
			pos = start;
		}
		if (i == l->n_spans || x >= cols)
			break;
		len = l->spans[i].len;
		if ((int)len > cols - x)
			len = (size_t)(cols - x);
		wattrset(stdscr, s->attr[l->spans[i].style]);
		waddnstr(stdscr, l->text + pos, (int)len);
		x += (int)len;
		pos += l->spans[i].len;
	}
	if (l->section == TOP_SEC_COLUMNS) {
		wattrset(stdscr, s->attr[TOP_ST_COLUMNS]);
		for (; x < cols; x++)
			waddch(stdscr, ' ');
	}
	wattrset(stdscr, A_NORMAL);
}

static const char top_help[] =
	"s sort  / filter  b group  +/- interval  arrows select  "
	"Enter details  ? help  q quit";
static const char top_help_short[] = "s sort / filter b group Enter ? q quit";

static void top_draw_status(struct top_screen *s)
{
	struct top_app *app = s->app;
	int y = LINES - 1, n;
	char right[64];

	wmove(stdscr, y, 0);
	if (s->prompt) {
		wattrset(stdscr, A_BOLD);
		waddstr(stdscr, "filter: ");
		wattrset(stdscr, A_NORMAL);
		waddnstr(stdscr, s->input, COLS > 9 ? COLS - 9 : 0);
		waddstr(stdscr, "_");
		wattrset(stdscr, A_DIM);
		waddstr(stdscr, "   Enter applies, Esc cancels");
		wattrset(stdscr, A_NORMAL);
		return;
	}
	if (app->error[0] || app->notice[0]) {
		wattrset(stdscr, s->attr[TOP_ST_ALERT]);
		waddnstr(stdscr, app->error[0] ? app->error : app->notice, COLS);
		wattrset(stdscr, A_NORMAL);
		return;
	}
	/* The scroll position on the right; the key help gets what is left. */
	n = 0;
	if (s->rows_total > s->table_h)
		n = snprintf(right, sizeof(right), "  lines %zu-%zu of %zu",
			     s->scroll + 1, s->scroll + s->table_h, s->rows_total);
	if (n >= COLS)
		n = 0;
	wattrset(stdscr, A_DIM);
	waddnstr(stdscr, (int)strlen(top_help) <= COLS - n ? top_help : top_help_short,
		 COLS - n);
	if (n)
		mvwaddstr(stdscr, y, COLS - n, right);
	wattrset(stdscr, A_NORMAL);
}

/* The key help overlay ('?'): what every key does, and where to read more. */
static const char *const top_help_text[] = {
	"isotop keys",
	"",
	"  s            cycle the sort: severity, fail/s, ops/s, key",
	"  /            filter by key text (Enter applies, Esc cancels, ^U clears)",
	"  b            group the accounts by broker",
	"  + -          slower / faster refresh",
	"  space        refresh now",
	"  Up Down      select an account; PgUp PgDn Home End move by pages",
	"  Enter        the selected account in full: breaker, counters by",
	"               failure type, rolling window, config in force, last",
	"               transition, latency percentiles and its recent",
	"               transitions",
	"  Esc          back from the account to the table",
	"  ^L           redraw the screen",
	"  ?            this help",
	"  q            quit",
	"",
	"A broker is marked (broker-wide) when more than half of its accounts",
	"are unhealthy and it has at least 3 accounts (the alert's rule).",
	"isotop attaches read-only: nothing here changes the segment; act with",
	"isoctl (halt, release, reset, config). man isotop has the rest.",
	"",
	"Press any key to return.",
};

/* Highlight table line @row (the frame's @row-th line of the window) if it
 * is the selected one: its first word (the key, or a broker heading's
 * "==") in reverse video, so the health colours further on stay. */
static void top_mark_selected(struct top_screen *s, int y,
			      const struct top_line *l, size_t row)
{
	int n;

	if (l->section != TOP_SEC_ROWS || s->scroll + row != s->cursor)
		return;
	n = (int)strcspn(l->text, " ");
	mvwchgat(stdscr, y, 0, n > 0 ? n : 1, A_REVERSE | A_BOLD, 0, NULL);
}

/* Draw the help or the detail view over the whole screen. */
static void top_draw_overlay(struct top_screen *s)
{
	struct top_app *app = s->app;
	int y = 0, lines = LINES;

	werase(stdscr);
	if (s->mode == TOP_MODE_HELP) {
		for (size_t i = 0; i < sizeof(top_help_text) / sizeof(top_help_text[0]) &&
				   y < lines; i++) {
			wattrset(stdscr, i == 0 ? s->attr[TOP_ST_TITLE] : A_NORMAL);
			mvwaddnstr(stdscr, y++, 0, top_help_text[i], COLS);
		}
	} else {
		/* The fixed part takes 19 lines; the account's transitions
		 * get the rest of the screen above the status line. */
		int room = lines - 1 - 19;

		if (top_detail_build(&s->detail, app->reg,
				     room > 0 ? (unsigned)(room > 100 ? 100 : room) : 0,
				     app->model.sample_unix_ms) < 0)
			snprintf(app->error, sizeof(app->error),
				 "out of memory laying out the account");
		for (size_t i = 0; i < s->detail.n && y < lines - 1; i++) {
			wattrset(stdscr, s->attr[s->detail.lines[i].style]);
			mvwaddnstr(stdscr, y++, 0, s->detail.lines[i].text, COLS);
		}
		wattrset(stdscr, A_DIM);
		mvwaddnstr(stdscr, lines - 1, 0,
			   app->error[0] ? app->error :
			   "Esc back to the table  ? help  q quit", COLS);
	}
	wattrset(stdscr, A_NORMAL);
	wnoutrefresh(stdscr);
	doupdate();
}

/* Lay out a frame for the current screen size and draw it whole. */
static void top_draw(struct top_screen *s)
{
	struct top_app *app = s->app;
	struct top_frame *f = &app->frame;
	struct top_frame_opts fo = {
		.segment = app->segment,
		.interval_s = app->interval_s,
	};
	int lines = LINES, y, ev_y;
	size_t i;

	/* head (3) + columns (1) + table + pane + status (1). The pane gets a
	 * quarter of the screen, the table what is left. */
	if (lines >= 16)
		fo.max_events = (unsigned)(lines / 4 > 10 ? 10 : lines / 4);
	{
		int t = lines - TOP_HEAD_LINES - 1 -
			(fo.max_events ? (int)fo.max_events + 1 : 0) - 1;

		s->table_h = t > 0 ? (size_t)t : 0;
	}
	fo.max_rows = s->table_h ? s->table_h : 1;
	fo.first_row = s->scroll;
	if (top_frame_build(f, &app->model, &app->events, &fo) < 0)
		snprintf(app->error, sizeof(app->error), "out of memory laying out the screen");
	s->rows_total = f->rows_total;
	if (s->scroll && s->scroll + s->table_h > s->rows_total) {
		/* The table shrank (filter, resize): scroll back into it. */
		s->scroll = s->rows_total > s->table_h ? s->rows_total - s->table_h : 0;
		fo.first_row = s->scroll;
		top_frame_build(f, &app->model, &app->events, &fo);
	}

	if (s->mode != TOP_MODE_TABLE) {
		top_draw_overlay(s);
		return;
	}
	werase(stdscr);
	y = 0;
	ev_y = lines - 1 - (fo.max_events ? (int)fo.max_events + 1 : 0);
	for (i = 0; i < f->n; i++) {
		const struct top_line *l = &f->lines[i];

		if (l->section == TOP_SEC_EVENTS) {
			if (!fo.max_events)
				continue;
			if (y < ev_y)
				y = ev_y;
		} else if (l->section == TOP_SEC_ROWS && s->table_h == 0) {
			continue;
		}
		if (y >= lines - 1)
			break;
		top_draw_line(s, y, l);
		top_mark_selected(s, y, l, i - top_frame_first(f, TOP_SEC_ROWS));
		y++;
	}
	top_draw_status(s);
	wnoutrefresh(stdscr);
	doupdate();
}

static void top_step_interval(struct top_app *app, int dir)
{
	size_t i;

	if (dir > 0) {
		for (i = 0; i < TOP_N_STEPS && top_steps[i] <= app->interval_s + 1e-9; i++)
			;
		if (i < TOP_N_STEPS)
			app->interval_s = top_steps[i];
	} else {
		for (i = TOP_N_STEPS; i > 0 && top_steps[i - 1] >= app->interval_s - 1e-9; i--)
			;
		if (i > 0)
			app->interval_s = top_steps[i - 1];
	}
}

/* A key while typing a filter. */
static void top_prompt_key(struct top_screen *s, int ch)
{
	struct top_model *m = &s->app->model;
	size_t n = strlen(s->input);

	switch (ch) {
	case TOP_KEY_ESC:
		s->prompt = false;
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		s->prompt = false;
		top_model_set_view(m, m->sort, m->group, s->input);
		s->scroll = 0;
		s->cursor = 0;
		break;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		if (n)
			s->input[n - 1] = '\0';
		break;
	case TOP_KEY_CTRL('u'):
		s->input[0] = '\0';
		break;
	default:
		if (ch >= 0x20 && ch < 0x7f && n < TOP_FILTER_MAX) {
			s->input[n] = (char)ch;
			s->input[n + 1] = '\0';
		}
		break;
	}
}

/* Move the selection by one line, a page or to an end, and scroll so that
 * it stays in view. */
static void top_move_cursor(struct top_screen *s, int ch, size_t page)
{
	size_t last = s->rows_total ? s->rows_total - 1 : 0;

	switch (ch) {
	case KEY_UP:
		if (s->cursor)
			s->cursor--;
		break;
	case KEY_DOWN:
		s->cursor++;
		break;
	case KEY_PPAGE:
		s->cursor = s->cursor > page ? s->cursor - page : 0;
		break;
	case KEY_NPAGE:
		s->cursor += page;
		break;
	case KEY_HOME:
		s->cursor = 0;
		break;
	default: /* KEY_END */
		s->cursor = last;
		break;
	}
	if (s->cursor > last)
		s->cursor = last;
	if (s->cursor < s->scroll)
		s->scroll = s->cursor;
	else if (s->cursor >= s->scroll + page)
		s->scroll = s->cursor - page + 1;
}

/*
 * Show the account on the selected table line in full. When grouped by
 * broker, the table has a heading line before each broker's first row
 * (frame.c's top_table); a heading selects that broker's first account.
 */
static void top_open_detail(struct top_screen *s)
{
	const struct top_model *m = &s->app->model;
	size_t line = 0;

	for (size_t i = 0; i < m->n_view; i++) {
		const struct top_row *r = top_model_row(m, i);

		if (m->group &&
		    (i == 0 || strcmp(r->broker, top_model_row(m, i - 1)->broker)))
			line++;
		if (line >= s->cursor) {
			snprintf(s->detail.key, sizeof(s->detail.key), "%s",
				 r->key);
			s->mode = TOP_MODE_DETAIL;
			return;
		}
		line++;
	}
}

/* A key while the help or the detail view is up; returns false to quit. */
static bool top_overlay_key(struct top_screen *s, int ch)
{
	if (s->mode == TOP_MODE_HELP) {
		s->mode = TOP_MODE_TABLE; /* any key */
		return true;
	}
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case '?':
		s->mode = TOP_MODE_HELP;
		break;
	case ' ':
		s->next_ns = 0;
		break;
	case TOP_KEY_CTRL('l'):
		clearok(curscr, TRUE);
		break;
	case TOP_KEY_ESC:
	case '\r':
	case '\n':
	case KEY_ENTER:
	case KEY_LEFT:
	case KEY_BACKSPACE:
	case 127:
		s->mode = TOP_MODE_TABLE;
		break;
	default:
		break;
	}
	return true;
}

/* A key in normal mode; returns false to quit. */
static bool top_key(struct top_screen *s, int ch)
{
	struct top_app *app = s->app;
	struct top_model *m = &app->model;
	size_t page = s->table_h ? s->table_h : 1;

	if (s->mode != TOP_MODE_TABLE)
		return top_overlay_key(s, ch);
	switch (ch) {
	case 'q':
	case 'Q':
		return false;
	case '?':
	case 'h':
		s->mode = TOP_MODE_HELP;
		break;
	case '\r':
	case '\n':
	case KEY_ENTER:
		top_open_detail(s);
		break;
	case 's':
		top_model_set_view(m, (enum top_sort)((m->sort + 1) % TOP_SORT__COUNT),
				   m->group, NULL);
		break;
	case 'b':
		top_model_set_view(m, m->sort, !m->group, NULL);
		break;
	case '/':
		s->prompt = true;
		snprintf(s->input, sizeof(s->input), "%s", m->filter);
		break;
	case '+':
	case '=':
	case '-':
	case '_': {
		/* Keep the phase: the next sample is one new interval after
		 * the last one. */
		uint64_t last = s->next_ns - (uint64_t)(app->interval_s * 1e9);

		top_step_interval(app, ch == '+' || ch == '=' ? 1 : -1);
		s->next_ns = last + (uint64_t)(app->interval_s * 1e9);
		break;
	}
	case ' ':
		s->next_ns = 0; /* refresh now */
		break;
	case KEY_UP:
	case KEY_DOWN:
	case KEY_PPAGE:
	case KEY_NPAGE:
	case KEY_HOME:
	case KEY_END:
		top_move_cursor(s, ch, page);
		break;
	case TOP_KEY_CTRL('l'):
		clearok(curscr, TRUE);
		break;
	default:
		break;
	}
	return true;
}

int top_screen_run(struct top_app *app)
{
	struct top_screen s = { .app = app };
	SCREEN *scr;
	bool run = true;

	scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		const char *term = getenv("TERM");

		fprintf(stderr, "isotop: cannot start the screen (TERM=%s); use -b for plain text\n",
			term ? term : "unset");
		return 1;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	set_escdelay(25); /* Esc cancels the prompt without a visible wait */
	top_colours(&s);

	while (run) {
		uint64_t now = tc_mono_ns();
		int ch, ms;

		if (now >= s.next_ns) {
			if (app->iterations && s.frames >= app->iterations)
				break;
			top_app_refresh(app); /* a failure shows on the status line */
			s.frames++;
			s.next_ns = now + (uint64_t)(app->interval_s * 1e9);
		}
		top_draw(&s);

		now = tc_mono_ns();
		ms = s.next_ns > now ? (int)((s.next_ns - now + 999999) / 1000000) : 0;
		wtimeout(stdscr, ms);
		ch = wgetch(stdscr);
		if (ch == ERR || ch == KEY_RESIZE)
			continue; /* time to sample, or redraw at the new size */
		if (s.prompt)
			top_prompt_key(&s, ch);
		else
			run = top_key(&s, ch);
	}
	endwin();
	delscreen(scr);
	top_detail_free(&s.detail);
	return 0;
}
