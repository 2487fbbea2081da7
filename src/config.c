/*
 * config.c - breaker configuration: defaults, validation, parsing by field
 * name, and the compact form stored in the segment [B1].
 *
 * Stored configs are read and written field by field with relaxed atomics:
 * every field is validated on its own, so any mix of two valid configs is
 * valid and a reader racing a reconfigure never sees nonsense.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <math.h>

#include "budget.h"
#include "failpoint.h"
#include "internal.h"

void iso_config_default(struct iso_config *cfg)
{
	if (!cfg)
		return;
	/* Padding too (after burst): callers compare configs with memcmp. */
	memset(cfg, 0, sizeof(*cfg));
	*cfg = (struct iso_config){
		.failure_threshold = 5,
		.success_threshold = 3,
		.half_open_max_calls = 1,
		.degrade_after = 1,
		.open_timeout_ms = 300000,
		.max_open_timeout_ms = 3600000,
		.probe_timeout_ms = 30000,
		.trip_on = 0,
		.ignore = 0,
		.flags = 0,
		.rate_per_s = 0,
		.burst = 0,
		.window_ms = 0,
		.min_calls = 10,
		.failure_rate_threshold = 0,
		.slow_call_ms = 0,
		.slow_call_rate_threshold = 0,
	};
}

static int check_range(const char *field, uint32_t v, uint32_t lo, uint32_t hi)
{
	if (v < lo || v > hi)
		return iso_fail(ISO_EINVAL, "config %s = %u: must be %u..%u",
				field, v, lo, hi);
	return 0;
}

int iso_config_validate(const struct iso_config *c)
{
	int rc;
	const uint32_t all = (1u << ISO_FAIL__COUNT) - 1;
	if (!c)
		return iso_fail(ISO_EINVAL, "config: NULL");
	if ((rc = check_range("failure_threshold", c->failure_threshold, 1,
			      ISO_THRESHOLD_MAX)) ||
	    (rc = check_range("success_threshold", c->success_threshold, 1,
			      ISO_THRESHOLD_MAX)) ||
	    (rc = check_range("half_open_max_calls", c->half_open_max_calls, 1,
			      ISO_THRESHOLD_MAX)) ||
	    (rc = check_range("degrade_after", c->degrade_after, 1,
			      ISO_THRESHOLD_MAX)) ||
	    (rc = check_range("open_timeout_ms", c->open_timeout_ms, 1,
			      ISO_TIMEOUT_MAX_MS)) ||
	    (rc = check_range("max_open_timeout_ms", c->max_open_timeout_ms, 1,
			      ISO_TIMEOUT_MAX_MS)) ||
	    (rc = check_range("probe_timeout_ms", c->probe_timeout_ms, 1,
			      ISO_TIMEOUT_MAX_MS)))
		return rc;
	if (c->max_open_timeout_ms < c->open_timeout_ms)
		return iso_fail(ISO_EINVAL,
				"config max_open_timeout_ms = %u: must be >= "
				"open_timeout_ms (%u)", c->max_open_timeout_ms,
				c->open_timeout_ms);
	if (c->trip_on & ~all)
		return iso_fail(ISO_EINVAL, "config trip_on = 0x%x: unknown "
				"failure type bits", c->trip_on);
	if (c->ignore & ~all)
		return iso_fail(ISO_EINVAL, "config ignore = 0x%x: unknown "
				"failure type bits", c->ignore);
	if (c->trip_on & c->ignore)
		return iso_fail(ISO_EINVAL, "config: a failure type cannot be "
				"both in trip_on and in ignore (0x%x)",
				c->trip_on & c->ignore);
	if (c->flags & ~ISO_CFG_OBSERVE_ONLY)
		return iso_fail(ISO_EINVAL, "config flags = 0x%x: unknown bits",
				c->flags);
	/* [B9] the budget: a rate of 0 is none; a burst needs a rate. */
	if (!isfinite(c->rate_per_s) ||
	    (c->rate_per_s != 0 && (c->rate_per_s < ISO_RATE_MIN ||
				    c->rate_per_s > ISO_RATE_MAX)))
		return iso_fail(ISO_EINVAL, "config rate_per_s = %g: must be 0 "
				"(no budget) or %g..%g calls per second",
				c->rate_per_s, ISO_RATE_MIN, ISO_RATE_MAX);
	if (c->burst > ISO_BURST_MAX)
		return iso_fail(ISO_EINVAL, "config burst = %u: must be 0..%u",
				c->burst, ISO_BURST_MAX);
	if (c->burst && c->rate_per_s == 0)
		return iso_fail(ISO_EINVAL, "config burst = %u: needs a "
				"rate_per_s (0 means no budget)", c->burst);
	/* [B7] rolling windows. Thresholds without a window are inert, so
	 * fields may be set one at a time in any order. */
	if (c->window_ms && (c->window_ms < ISO_WINDOW_MS_MIN ||
			     c->window_ms > ISO_WINDOW_MS_MAX))
		return iso_fail(ISO_EINVAL, "config window_ms = %u: must be 0 "
				"(no window) or %u..%u", c->window_ms,
				ISO_WINDOW_MS_MIN, ISO_WINDOW_MS_MAX);
	if ((rc = check_range("min_calls", c->min_calls, 1,
			      ISO_MIN_CALLS_MAX)) ||
	    (rc = check_range("failure_rate_threshold",
			      c->failure_rate_threshold, 0, 100)) ||
	    (rc = check_range("slow_call_ms", c->slow_call_ms, 0,
			      ISO_TIMEOUT_MAX_MS)) ||
	    (rc = check_range("slow_call_rate_threshold",
			      c->slow_call_rate_threshold, 0, 100)))
		return rc;
	return 0;
}

static int parse_u32(const char *field, const char *value, uint32_t *out)
{
	char *end;
	errno = 0;
	if (!value || !*value || *value == '-')
		return iso_fail(ISO_EINVAL, "config %s: '%s' is not a "
				"non-negative number", field, value ? value : "");
	unsigned long long v = strtoull(value, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		return iso_fail(ISO_EINVAL, "config %s: '%s' is not a number "
				"in range", field, value);
	*out = (uint32_t)v;
	return 0;
}

static int parse_rate(const char *field, const char *value, double *out)
{
	char *end;
	errno = 0;
	if (!value || !*value || *value == '-' || *value == '+')
		return iso_fail(ISO_EINVAL, "config %s: '%s' is not a "
				"non-negative number", field, value ? value : "");
	double v = strtod(value, &end);
	if (errno || *end || !isfinite(v))
		return iso_fail(ISO_EINVAL, "config %s: '%s' is not a number "
				"in range", field, value);
	*out = v;
	return 0;
}

static int parse_mask(const char *field, const char *value, uint32_t *out)
{
	char buf[256];
	uint32_t m = 0;
	if (!value || strlen(value) >= sizeof(buf))
		return iso_fail(ISO_EINVAL, "config %s: bad list", field);
	if (!*value)
		return iso_fail(ISO_EINVAL, "config %s: empty; give failure "
				"types (API,NETWORK,...) or 'none'", field);
	if (!strcasecmp(value, "none")) {
		*out = 0;
		return 0;
	}
	strcpy(buf, value);
	/* Split by hand: strtok would skip the empty item in "API,,NETWORK". */
	for (char *t = buf, *next; t; t = next) {
		next = strpbrk(t, ",|");
		if (next)
			*next++ = '\0';
		if (!*t)
			return iso_fail(ISO_EINVAL, "config %s: '%s' has an empty "
					"item", field, value);
		int ft = iso_failure_type_parse(t);
		if (ft < 0)
			return iso_fail(ISO_EINVAL, "config %s: '%s' is not a "
					"failure type (API, NETWORK, "
					"AUTHENTICATION, RATE_LIMIT, BALANCE, "
					"POSITION, EXECUTION, UNKNOWN)", field, t);
		m |= ISO_FAIL_MASK(ft);
	}
	*out = m;
	return 0;
}

int iso_config_set(struct iso_config *cfg, const char *field,
		   const char *value)
{
	struct iso_config c;
	uint32_t v = 0;
	int rc;
	if (!cfg || !field || !value)
		return iso_fail(ISO_EINVAL, "iso_config_set: NULL argument");
	c = *cfg;
	struct { const char *name; uint32_t *p; } num[] = {
		{ "failure_threshold", &c.failure_threshold },
		{ "success_threshold", &c.success_threshold },
		{ "half_open_max_calls", &c.half_open_max_calls },
		{ "degrade_after", &c.degrade_after },
		{ "open_timeout_ms", &c.open_timeout_ms },
		{ "max_open_timeout_ms", &c.max_open_timeout_ms },
		{ "probe_timeout_ms", &c.probe_timeout_ms },
		{ "burst", &c.burst },
		{ "window_ms", &c.window_ms },
		{ "min_calls", &c.min_calls },
		{ "failure_rate_threshold", &c.failure_rate_threshold },
		{ "slow_call_ms", &c.slow_call_ms },
		{ "slow_call_rate_threshold", &c.slow_call_rate_threshold },
	};
	for (size_t i = 0; i < sizeof(num) / sizeof(num[0]); i++) {
		if (strcmp(field, num[i].name))
			continue;
		if ((rc = parse_u32(field, value, &v)))
			return rc;
		*num[i].p = v;
		goto check;
	}
	if (!strcmp(field, "rate_per_s")) {
		if ((rc = parse_rate(field, value, &c.rate_per_s)))
			return rc;
		/* A budget starts with a burst of 1 unless one is named. */
		if (c.rate_per_s > 0 && !c.burst)
			c.burst = 1;
		if (c.rate_per_s == 0)
			c.burst = 0;
	} else if (!strcmp(field, "trip_on")) {
		if ((rc = parse_mask(field, value, &c.trip_on)))
			return rc;
	} else if (!strcmp(field, "ignore")) {
		if ((rc = parse_mask(field, value, &c.ignore)))
			return rc;
	} else if (!strcmp(field, "observe_only")) {
		if (!strcmp(value, "1") || !strcasecmp(value, "true") ||
		    !strcasecmp(value, "on"))
			c.flags |= ISO_CFG_OBSERVE_ONLY;
		else if (!strcmp(value, "0") || !strcasecmp(value, "false") ||
			 !strcasecmp(value, "off"))
			c.flags &= ~ISO_CFG_OBSERVE_ONLY;
		else
			return iso_fail(ISO_EINVAL, "config observe_only: '%s' "
					"is not 0/1/true/false", value);
	} else {
		return iso_fail(ISO_EINVAL,
				"config: unknown field '%s' (known: "
				"failure_threshold success_threshold "
				"half_open_max_calls degrade_after "
				"open_timeout_ms max_open_timeout_ms "
				"probe_timeout_ms trip_on ignore observe_only "
				"rate_per_s burst window_ms min_calls "
				"failure_rate_threshold slow_call_ms "
				"slow_call_rate_threshold)",
				field);
	}
check:
	/* max_open follows open up when only open was raised past it. */
	if (!strcmp(field, "open_timeout_ms") &&
	    c.max_open_timeout_ms < c.open_timeout_ms)
		c.max_open_timeout_ms = c.open_timeout_ms;
	if ((rc = iso_config_validate(&c)))
		return rc;
	*cfg = c;
	return 0;
}


/*
 * Field by field, relaxed: each field is whole and valid on its own, so a
 * reader racing a reconfigure (or one whose writer was killed half-way)
 * sees some mix of old and new fields, each valid; the next configure
 * replaces them all. The override flag is stored last, with release.
 */
#define LD8(p) iso_load8_relaxed(p)
#define ST8(p, v) (ISO_FP("config.field"), iso_store8_relaxed((p), (v)))

void iso_config_load_shm(const struct iso_shm_config *s,
			 const uint64_t *budget,
			 const struct iso_shm_wincfg *w, struct iso_config *c)
{
	uint64_t bw = iso_load64_relaxed(budget);
	c->failure_threshold = LD8(&s->failure_threshold);
	c->success_threshold = LD8(&s->success_threshold);
	c->half_open_max_calls = LD8(&s->half_open_max_calls);
	c->degrade_after = LD8(&s->degrade_after);
	c->open_timeout_ms = iso_load32_relaxed(&s->open_timeout_ms);
	c->max_open_timeout_ms = iso_load32_relaxed(&s->max_open_timeout_ms);
	c->probe_timeout_ms = iso_load32_relaxed(&s->probe_timeout_ms);
	c->trip_on = LD8(&s->trip_on);
	c->ignore = LD8(&s->ignore);
	c->flags = LD8(&s->flags) & ISO_SHMF_PUBLIC;
	c->rate_per_s = ISO_BUDGET_INTERVAL(bw)
		? 1e9 / (double)ISO_BUDGET_INTERVAL(bw) : 0;
	c->burst = ISO_BUDGET_INTERVAL(bw) ? ISO_BUDGET_BURST(bw) : 0;
	/* A segment without a window region reads as windows off. */
	c->window_ms = 0;
	c->min_calls = 10;
	c->failure_rate_threshold = c->slow_call_ms = 0;
	c->slow_call_rate_threshold = 0;
	if (w)
		iso_wincfg_load(w, c);
}

void iso_config_store_shm(struct iso_shm_config *s, uint64_t *budget,
			  struct iso_shm_wincfg *w, uint32_t *features,
			  const struct iso_config *c, uint8_t override)
{
	uint64_t bw = iso_budget_word(c);
	ST8(&s->failure_threshold, (uint8_t)c->failure_threshold);
	ST8(&s->success_threshold, (uint8_t)c->success_threshold);
	ST8(&s->half_open_max_calls, (uint8_t)c->half_open_max_calls);
	ST8(&s->degrade_after, (uint8_t)c->degrade_after);
	ISO_FP("config.field");
	iso_store32_relaxed(&s->open_timeout_ms, c->open_timeout_ms);
	ISO_FP("config.field");
	iso_store32_relaxed(&s->max_open_timeout_ms, c->max_open_timeout_ms);
	ISO_FP("config.field");
	iso_store32_relaxed(&s->probe_timeout_ms, c->probe_timeout_ms);
	ST8(&s->trip_on, (uint8_t)c->trip_on);
	ST8(&s->ignore, (uint8_t)c->ignore);
	ISO_FP("config.field");
	iso_store64_relaxed(budget, bw); /* whole: rate and burst together */
	ST8(&s->flags, (uint8_t)(c->flags & ISO_SHMF_PUBLIC));
	if (w) {
		ISO_FP("config.window");
		iso_store32_relaxed(&w->window_ms, c->window_ms);
		iso_store32_relaxed(&w->min_calls, c->min_calls);
		iso_store32_relaxed(&w->slow_call_ms, c->slow_call_ms);
		iso_store8_relaxed(&w->failure_rate,
				   (uint8_t)c->failure_rate_threshold);
		iso_store8_relaxed(&w->slow_rate,
				   (uint8_t)c->slow_call_rate_threshold);
	}
	/* release: a reader that sees the override flag sees the fields. */
	ISO_FP("config.override");
	iso_store8_release(&s->override, override);
	/* After the config: an acquire that sees the feature finds it. Only
	 * ever raised; relaxed, as it publishes nothing the override's
	 * release does not. */
	if (bw) {
		ISO_FP("config.features");
		iso_or32_relaxed(features, ISO_FEAT_BUDGET);
	}
	if (w && c->window_ms) {
		ISO_FP("config.features");
		iso_or32_relaxed(features, ISO_FEAT_WINDOW);
	}
}

int iso_config_fits(iso_reg_t *reg, const struct iso_config *c)
{
	if (c->window_ms && !reg->win)
		return iso_fail(ISO_EINVAL, "config window_ms = %u: segment %s "
				"has no window region; create it with windows "
				"(isoctl create --windows, ISO_ATTACH_WINDOWS, "
				"or window_ms in its defaults)", c->window_ms,
				reg->name);
	return 0;
}
