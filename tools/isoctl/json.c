/*
 * json.c - isoctl's --json output, built with json-c from the library's
 * structs. Field names are the C API's (struct iso_status, iso_report...),
 * enum values are their names ("QUARANTINED", "NETWORK"), times are Unix ms.
 *
 * Owns only the mapping struct -> JSON; never computes a figure the library
 * did not give (derived values are the library's, SPEC style rule 8).
 */
#include <stdio.h>

#include "isoctl.h"

static void add(json_object *o, const char *k, json_object *v)
{
	json_object_object_add(o, k, v);
}

static json_object *u64(uint64_t v)
{
	return json_object_new_uint64(v);
}

static json_object *i64(int64_t v)
{
	return json_object_new_int64(v);
}

static json_object *str(const char *s)
{
	return json_object_new_string(s);
}

static json_object *mask_array(uint32_t mask)
{
	json_object *a = json_object_new_array();

	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		if (mask & ISO_FAIL_MASK(t))
			json_object_array_add(a, str(iso_failure_type_name(t)));
	return a;
}

json_object *isoctl_json_config(const struct iso_config *cfg)
{
	json_object *o = json_object_new_object();

	add(o, "failure_threshold", u64(cfg->failure_threshold));
	add(o, "success_threshold", u64(cfg->success_threshold));
	add(o, "half_open_max_calls", u64(cfg->half_open_max_calls));
	add(o, "degrade_after", u64(cfg->degrade_after));
	add(o, "open_timeout_ms", u64(cfg->open_timeout_ms));
	add(o, "max_open_timeout_ms", u64(cfg->max_open_timeout_ms));
	add(o, "probe_timeout_ms", u64(cfg->probe_timeout_ms));
	add(o, "trip_on", mask_array(cfg->trip_on));
	add(o, "ignore", mask_array(cfg->ignore));
	add(o, "observe_only",
	    json_object_new_boolean(cfg->flags & ISO_CFG_OBSERVE_ONLY));
	add(o, "rate_per_s", json_object_new_double(cfg->rate_per_s));
	add(o, "burst", u64(cfg->burst));
	add(o, "window_ms", u64(cfg->window_ms));
	add(o, "min_calls", u64(cfg->min_calls));
	add(o, "failure_rate_threshold", u64(cfg->failure_rate_threshold));
	add(o, "slow_call_ms", u64(cfg->slow_call_ms));
	add(o, "slow_call_rate_threshold", u64(cfg->slow_call_rate_threshold));
	return o;
}

/* A window rate [B7] in percent, or null while there is none to judge. */
static json_object *rate_or_null(const struct iso_status *st, double rate)
{
	if (!st->config.window_ms || rate < 0)
		return NULL;
	return json_object_new_double(rate);
}

json_object *isoctl_json_status(const struct iso_status *st)
{
	json_object *o = json_object_new_object();
	json_object *by = json_object_new_object();
	json_object *hist = json_object_new_array();
	char key[ISO_KEY_STR_MAX + 1];

	iso_key_format(&st->key, key, sizeof(key));
	add(o, "key", str(key));
	add(o, "type", str(st->key.type));
	add(o, "id", str(st->key.id));
	add(o, "broker", str(st->key.broker));
	add(o, "slot", u64(st->slot));
	add(o, "gen", u64(st->gen));
	add(o, "health", str(iso_health_name(st->health)));
	add(o, "breaker", str(iso_breaker_state_name(st->breaker)));
	add(o, "operations", u64(st->operations));
	add(o, "successes", u64(st->successes));
	add(o, "failures", u64(st->failures));
	for (int t = 0; t < ISO_FAIL__COUNT; t++)
		add(by, iso_failure_type_name(t), u64(st->failures_by_type[t]));
	add(o, "failures_by_type", by);
	add(o, "consecutive_failures", u64(st->consecutive_failures));
	add(o, "consecutive_successes", u64(st->consecutive_successes));
	add(o, "probes_in_flight", u64(st->probes_in_flight));
	add(o, "backoff_step", u64(st->backoff_step));
	add(o, "episode", u64(st->episode));
	add(o, "quarantines", u64(st->quarantines));
	add(o, "last_success_ms", i64(st->last_success_ms));
	add(o, "last_failure_ms", i64(st->last_failure_ms));
	add(o, "last_transition_ms", i64(st->last_transition_ms));
	add(o, "last_cause", str(iso_cause_name(st->last_cause)));
	add(o, "last_failure_type",
	    st->last_failure_type >= 0 && st->last_failure_type < ISO_FAIL__COUNT
		    ? str(iso_failure_type_name(st->last_failure_type))
		    : NULL);
	add(o, "retry_in_ms", u64(st->retry_in_ms));
	add(o, "avg_op_ms", json_object_new_double(st->avg_op_ms));
	add(o, "ema_op_ms", json_object_new_double(st->ema_op_ms));
	add(o, "p50_op_ns", u64(st->p50_op_ns));
	add(o, "p99_op_ns", u64(st->p99_op_ns));
	add(o, "timed_operations", u64(st->timed_operations));
	add(o, "min_op_ns", u64(st->min_op_ns));
	add(o, "max_op_ns", u64(st->max_op_ns));
	add(o, "budget_available", st->config.rate_per_s > 0
		? json_object_new_double(st->budget_available) : NULL);
	add(o, "budget_retry_in_ms", u64(st->budget_retry_in_ms));
	add(o, "budget_refusals", u64(st->budget_refusals));
	/* [B7] the library's -1 (fewer than min_calls outcomes: not judged
	 * yet) and a window that is off are both null: no rate to show. */
	add(o, "window_calls", u64(st->window_calls));
	add(o, "window_failures", u64(st->window_failures));
	add(o, "window_slow_calls", u64(st->window_slow_calls));
	add(o, "failure_rate", rate_or_null(st, st->failure_rate));
	add(o, "slow_call_rate", rate_or_null(st, st->slow_call_rate));
	for (int b = 0; b < ISO_HIST_BUCKETS; b++)
		json_object_array_add(hist, u64(st->hist[b]));
	add(o, "hist", hist);
	add(o, "config", isoctl_json_config(&st->config));
	add(o, "config_override", json_object_new_boolean(st->config_override));
	return o;
}

json_object *isoctl_json_report(const struct iso_report *rep,
				const char *segment)
{
	json_object *o = json_object_new_object();
	json_object *by = json_object_new_object();
	json_object *brokers = json_object_new_array();
	uint32_t n = rep->brokers_count;

	add(o, "segment", str(segment));
	add(o, "total_accounts", u64(rep->total_accounts));
	add(o, "capacity", u64(rep->capacity));
	for (int h = 0; h < ISO_HEALTH__COUNT; h++)
		add(by, iso_health_name(h), u64(rep->by_health[h]));
	add(o, "by_health", by);
	add(o, "total_operations", u64(rep->total_operations));
	add(o, "total_failures", u64(rep->total_failures));
	add(o, "total_quarantines", u64(rep->total_quarantines));
	add(o, "cross_account_errors", u64(rep->cross_account_errors));
	add(o, "isolation_guarantee",
	    str(rep->isolation_active ? "ACTIVE" : "VIOLATED"));
	if (n > ISO_REPORT_MAX_BROKERS)
		n = ISO_REPORT_MAX_BROKERS;
	for (uint32_t i = 0; i < n; i++) {
		const struct iso_broker_summary *b = &rep->brokers[i];
		json_object *bo = json_object_new_object();

		add(bo, "broker", str(b->broker));
		add(bo, "accounts", u64(b->accounts));
		add(bo, "unhealthy", u64(b->unhealthy));
		add(bo, "degraded", u64(b->degraded));
		json_object_array_add(brokers, bo);
	}
	add(o, "brokers", brokers);
	add(o, "brokers_dropped", u64(rep->brokers_dropped));
	return o;
}

json_object *isoctl_json_event(const struct iso_event *ev)
{
	json_object *o = json_object_new_object();
	char key[ISO_KEY_STR_MAX + 1] = "";

	if (ev->key.type[0])
		iso_key_format(&ev->key, key, sizeof(key));
	add(o, "seq", u64(ev->seq));
	add(o, "time_ms", i64(ev->time_ms));
	add(o, "key", key[0] ? str(key) : NULL);
	add(o, "slot", u64(ev->slot));
	add(o, "gen", u64(ev->gen));
	add(o, "pid", u64(ev->pid));
	add(o, "from", str(iso_health_name(ev->from)));
	add(o, "to", str(iso_health_name(ev->to)));
	add(o, "breaker", str(iso_breaker_state_name(ev->breaker)));
	add(o, "cause", str(iso_cause_name(ev->cause)));
	add(o, "failure_type",
	    ev->failure_type >= 0 && ev->failure_type < ISO_FAIL__COUNT
		    ? str(iso_failure_type_name(ev->failure_type))
		    : NULL);
	add(o, "uid", u64(ev->uid));
	add(o, "reason", ev->reason[0] ? str(ev->reason) : NULL);
	if (ev->slot == ISO_NO_SLOT && ev->key.broker[0])
		add(o, "broker", str(ev->key.broker));
	return o;
}

json_object *isoctl_json_info(const struct iso_segment_info *info)
{
	json_object *o = json_object_new_object();

	add(o, "name", str(info->name));
	add(o, "layout_version", u64(info->layout_version));
	add(o, "capacity", u64(info->capacity));
	add(o, "used", u64(info->used));
	add(o, "live", u64(info->live));
	add(o, "dir_capacity", u64(info->dir_capacity));
	add(o, "dir_tombstones", u64(info->dir_tombstones));
	add(o, "ring_capacity", u64(info->ring_capacity));
	add(o, "slot_size", u64(info->slot_size));
	add(o, "segment_size", u64(info->segment_size));
	add(o, "bytes_per_account", u64(info->bytes_per_account));
	add(o, "generation", u64(info->generation));
	add(o, "retire_cooldown_ms", u64(info->retire_cooldown_ms));
	add(o, "read_only", json_object_new_boolean(info->read_only));
	add(o, "windows", json_object_new_boolean(info->windows));
	add(o, "defaults", isoctl_json_config(&info->defaults));
	return o;
}

json_object *isoctl_json_doctor(const struct iso_doctor_report *rep)
{
	json_object *o = json_object_new_object();

	add(o, "ok", json_object_new_boolean(rep->ok));
	add(o, "slots_checked", u64(rep->slots_checked));
	add(o, "live", u64(rep->live));
	add(o, "reserved_pending", u64(rep->reserved_pending));
	add(o, "reserved_dead", u64(rep->reserved_dead));
	add(o, "reclaimed", u64(rep->reclaimed));
	add(o, "published", u64(rep->published));
	add(o, "retired", u64(rep->retired));
	add(o, "bad_breaker_words", u64(rep->bad_breaker_words));
	add(o, "bad_slots", u64(rep->bad_slots));
	add(o, "dir_entries", u64(rep->dir_entries));
	add(o, "dir_tombstones", u64(rep->dir_tombstones));
	add(o, "dir_bad", u64(rep->dir_bad));
	add(o, "dir_missing", u64(rep->dir_missing));
	add(o, "cross_account_errors", u64(rep->cross_account_errors));
	return o;
}

void isoctl_print_config(const struct iso_config *cfg, int indent)
{
	char m[160];

	printf("%*sfailure_threshold=%u\n", indent, "", cfg->failure_threshold);
	printf("%*ssuccess_threshold=%u\n", indent, "", cfg->success_threshold);
	printf("%*shalf_open_max_calls=%u\n", indent, "",
	       cfg->half_open_max_calls);
	printf("%*sdegrade_after=%u\n", indent, "", cfg->degrade_after);
	printf("%*sopen_timeout_ms=%u\n", indent, "", cfg->open_timeout_ms);
	printf("%*smax_open_timeout_ms=%u\n", indent, "",
	       cfg->max_open_timeout_ms);
	printf("%*sprobe_timeout_ms=%u\n", indent, "", cfg->probe_timeout_ms);
	printf("%*strip_on=%s\n", indent, "",
	       fmt_mask(cfg->trip_on, m, sizeof(m)));
	printf("%*signore=%s\n", indent, "",
	       fmt_mask(cfg->ignore, m, sizeof(m)));
	printf("%*sobserve_only=%d\n", indent, "",
	       (cfg->flags & ISO_CFG_OBSERVE_ONLY) ? 1 : 0);
	printf("%*srate_per_s=%.9g\n", indent, "", cfg->rate_per_s);
	printf("%*sburst=%u\n", indent, "", cfg->burst);
	printf("%*swindow_ms=%u\n", indent, "", cfg->window_ms);
	printf("%*smin_calls=%u\n", indent, "", cfg->min_calls);
	printf("%*sfailure_rate_threshold=%u\n", indent, "",
	       cfg->failure_rate_threshold);
	printf("%*sslow_call_ms=%u\n", indent, "", cfg->slow_call_ms);
	printf("%*sslow_call_rate_threshold=%u\n", indent, "",
	       cfg->slow_call_rate_threshold);
}
