/*
 * model.h - isotop's data: one sample of every account per refresh, rates
 * from the deltas between two samples, and the view (filter, sort, group by
 * broker) that the frame shows. No curses and no printing here.
 */
#ifndef ISOTOP_MODEL_H
#define ISOTOP_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "isoreg.h"
#include "../common/cli.h"

#define TOP_FILTER_MAX 64

enum top_sort {
	TOP_SORT_SEVERITY = 0, /* health (worst first), then fail/s */
	TOP_SORT_FAIL_RATE,    /* fail/s, then health */
	TOP_SORT_OPS_RATE,     /* ops/s */
	TOP_SORT_KEY,          /* key, alphabetical */
	TOP_SORT__COUNT
};

/* One account as sampled: only what the viewer shows or derives from. */
struct top_row {
	char key[CLI_KEY_ESC_MAX + 1]; /* escaped: never raw bytes [R7] */
	bool corrupt;  /* the slot's key holds bytes no key may hold */
	char broker[ISO_BROKER_MAX + 1];
	uint32_t slot;
	uint32_t gen;
	enum iso_health health;
	enum iso_breaker_state breaker;
	uint64_t operations;
	uint64_t failures;
	uint64_t failures_by_type[ISO_FAIL__COUNT];
	uint32_t consecutive_failures;
	uint64_t p50_op_ns;
	uint64_t p99_op_ns;
	uint64_t retry_in_ms;
	bool has_budget;          /* a request budget is configured [B9] */
	double budget_available;  /* units spendable now */
	uint32_t burst;
	uint64_t budget_refusals; /* acquires the budget refused */
	bool has_window;          /* a rolling window is configured [B7] */
	bool window_alert;        /* a rate is at its threshold */
	bool slow_calls_counted;  /* slow_call_ms is set */
	uint64_t window_calls;    /* outcomes in the window */
	uint32_t min_calls;
	double failure_rate;      /* percent; -1 while not judged */
	double slow_call_rate;
	bool has_rate;  /* false on the first sample of this slot+gen */
	double ops_rate; /* per second, since the previous sample */
	double fail_rate;
};

struct top_model {
	iso_reg_t *reg;
	struct top_row *rows;  /* this sample, in slot order */
	size_t n_rows, cap_rows;
	struct top_row *prev;  /* the previous sample, in slot order */
	size_t n_prev, cap_prev;
	uint64_t sample_ns;    /* CLOCK_MONOTONIC of this sample */
	uint64_t prev_ns;
	int64_t sample_unix_ms;
	unsigned samples;
	struct iso_report report;
	struct iso_segment_info info;

	/* The view: indices into rows, filtered, sorted and maybe grouped. */
	size_t *view;
	size_t n_view, cap_view;
	size_t key_width;      /* longest key in the view */
	enum top_sort sort;
	bool group;
	char filter[TOP_FILTER_MAX + 1];
};

/** top_model_init - an empty model reading @reg. */
void top_model_init(struct top_model *m, iso_reg_t *reg);

/** top_model_free - release the model's memory (not @reg). */
void top_model_free(struct top_model *m);

/**
 * top_model_sample - take a new sample of every account, the segment's
 * report and facts, compute rates against the previous sample (matched by
 * slot and generation, so a reused slot starts afresh), and rebuild the view.
 *
 * Returns 0 or a negative ISO_E* code (the message is in iso_last_error(),
 * or ISO_ENOMEM).
 */
int top_model_sample(struct top_model *m);

/**
 * top_model_set_view - change sort, grouping or filter, and rebuild the view
 * from the current sample (no new sample is taken). @filter may be NULL to
 * keep the current one; longer filters are refused with -1.
 */
int top_model_set_view(struct top_model *m, enum top_sort sort, bool group,
		       const char *filter);

/** top_model_matches - true if @key passes the current filter. */
bool top_model_matches(const struct top_model *m, const char *key);

/** top_model_row - the @i-th row of the view. */
const struct top_row *top_model_row(const struct top_model *m, size_t i);

/** top_model_broker - the report's summary for @broker, or NULL. */
const struct iso_broker_summary *top_model_broker(const struct top_model *m,
						  const char *broker);

/** top_sort_name - "severity", "fail/s", "ops/s", "key". */
const char *top_sort_name(enum top_sort s);

/** top_sort_parse - from "severity", "fail", "ops", "key"; -1 if unknown. */
int top_sort_parse(const char *name);

#endif /* ISOTOP_MODEL_H */
