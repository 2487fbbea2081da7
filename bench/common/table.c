/*
 * table.c - the one table each harness prints: aligned text for people,
 * --json for machines. Rows are collected while measuring and printed at
 * the end, so nothing is formatted inside a measurement.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void bench_parse_args(int argc, char **argv, const char *name,
		      int default_runs, struct bench_opts *o)
{
	o->json = false;
	o->quick = false;
	o->runs = default_runs;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (strcmp(a, "--quick") == 0) {
			o->quick = true;
		} else if (strcmp(a, "--runs") == 0 && i + 1 < argc) {
			char *end;
			long n = strtol(argv[++i], &end, 10);
			if (*end != '\0' || n < 1 || n > 1000) {
				fprintf(stderr, "%s: --runs wants 1..1000, got '%s'\n",
					name, argv[i]);
				exit(2);
			}
			o->runs = (int)n;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			printf("usage: %s [--json] [--quick] [--runs N]\n"
			       "  --json     print one JSON object instead of the table\n"
			       "  --quick    a short smoke run (figures are not meaningful)\n"
			       "  --runs N   repeats of every measurement (default %d)\n",
			       name, default_runs);
			exit(0);
		} else {
			fprintf(stderr, "%s: unknown argument '%s' (try --help)\n",
				name, a);
			exit(2);
		}
	}
	if (o->quick && o->runs > 2)
		o->runs = 2;
}

void bench_table_init(struct bench_table *t, const char *bench, int ncols,
		      const struct bench_col *cols)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->bench, sizeof(t->bench), "%s", bench);
	if (ncols > BENCH_MAX_COLS)
		bench_die("table %s: %d columns, at most %d", bench, ncols,
			  BENCH_MAX_COLS);
	t->ncols = ncols;
	for (int i = 0; i < ncols; i++)
		t->cols[i] = cols[i];
}

int bench_table_row(struct bench_table *t, const char *variant,
		    const char *unit, const double *vals)
{
	if (t->nrows >= BENCH_MAX_ROWS)
		bench_die("table %s is full", t->bench);
	struct bench_row *r = &t->rows[t->nrows];
	snprintf(r->variant, sizeof(r->variant), "%s", variant);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	for (int i = 0; i < t->ncols; i++)
		r->v[i] = vals[i];
	return t->nrows++;
}

void bench_table_note(struct bench_table *t, const char *fmt, ...)
{
	if (t->nnotes >= BENCH_MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t->notes[t->nnotes++], sizeof(t->notes[0]), fmt, ap);
	va_end(ap);
}

static void fmt_cell(char *buf, size_t len, double v, enum bench_col_kind k)
{
	if (isnan(v)) {
		snprintf(buf, len, "-");
		return;
	}
	switch (k) {
	case BENCH_RATIO:
		snprintf(buf, len, "%.2fx", v);
		break;
	case BENCH_COUNT:
		snprintf(buf, len, "%.0f", v);
		break;
	case BENCH_NUM:
	default:
		if (fabs(v) < 10)
			snprintf(buf, len, "%.2f", v);
		else if (fabs(v) < 1000)
			snprintf(buf, len, "%.1f", v);
		else
			snprintf(buf, len, "%.0f", v);
		break;
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_json(const struct bench_table *t)
{
	printf("{\"bench\":");
	json_str(t->bench);
	printf(",\"columns\":[");
	for (int c = 0; c < t->ncols; c++) {
		if (c)
			putchar(',');
		json_str(t->cols[c].name);
	}
	printf("],\"rows\":[");
	for (int i = 0; i < t->nrows; i++) {
		const struct bench_row *r = &t->rows[i];
		printf("%s\n {\"variant\":", i ? "," : "");
		json_str(r->variant);
		printf(",\"unit\":");
		json_str(r->unit);
		for (int c = 0; c < t->ncols; c++) {
			printf(",");
			json_str(t->cols[c].name);
			if (isnan(r->v[c]) || isinf(r->v[c]))
				printf(":null");
			else if (t->cols[c].kind == BENCH_COUNT)
				printf(":%.0f", r->v[c]);
			else
				printf(":%.6g", r->v[c]);
		}
		putchar('}');
	}
	printf("],\"notes\":[");
	for (int i = 0; i < t->nnotes; i++) {
		if (i)
			putchar(',');
		json_str(t->notes[i]);
	}
	printf("]}\n");
}

void bench_table_print(const struct bench_table *t,
		       const struct bench_opts *o)
{
	if (o->json) {
		print_json(t);
		fflush(stdout);
		return;
	}
	int vw = (int)strlen("variant"), uw = (int)strlen("unit");
	int cw[BENCH_MAX_COLS];
	char cell[64];
	for (int c = 0; c < t->ncols; c++)
		cw[c] = (int)strlen(t->cols[c].name);
	for (int i = 0; i < t->nrows; i++) {
		const struct bench_row *r = &t->rows[i];
		if ((int)strlen(r->variant) > vw)
			vw = (int)strlen(r->variant);
		if ((int)strlen(r->unit) > uw)
			uw = (int)strlen(r->unit);
		for (int c = 0; c < t->ncols; c++) {
			fmt_cell(cell, sizeof(cell), r->v[c], t->cols[c].kind);
			if ((int)strlen(cell) > cw[c])
				cw[c] = (int)strlen(cell);
		}
	}
	printf("== %s\n", t->bench);
	printf("%-*s  %-*s", vw, "variant", uw, "unit");
	for (int c = 0; c < t->ncols; c++)
		printf("  %*s", cw[c], t->cols[c].name);
	putchar('\n');
	for (int i = 0; i < t->nrows; i++) {
		const struct bench_row *r = &t->rows[i];
		printf("%-*s  %-*s", vw, r->variant, uw, r->unit);
		for (int c = 0; c < t->ncols; c++) {
			fmt_cell(cell, sizeof(cell), r->v[c], t->cols[c].kind);
			printf("  %*s", cw[c], cell);
		}
		putchar('\n');
	}
	for (int i = 0; i < t->nnotes; i++)
		printf("#  %s\n", t->notes[i]);
	fflush(stdout);
}
