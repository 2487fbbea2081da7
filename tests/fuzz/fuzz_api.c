/*
 * fuzz_api.c - sequences of breaker calls checked against a model of
 * SPEC §3 written here, apart from the library's own breaker code [B1-B6][M2].
 *
 * Each input is one account's life: the first bytes choose its config,
 * the rest decode to steps: move the (fake) clock, acquire, record a
 * success or a failure (with no permit, or with a permit taken earlier),
 * a failure with retry-after, reset, force-open. After every step the
 * library must agree with the model on health, breaker state, the answer
 * and reason of acquire, the time left while open, and the counters.
 *
 * Where SPEC leaves a choice open the fuzzer avoids depending on it:
 *  - the clock never lands exactly on a deadline (>= versus >);
 *  - a permit taken in a HALF_OPEN episode that has since ended is
 *    dropped, not recorded (SPEC says only that trips and resets start a
 *    new episode);
 *  - while some but not all outstanding probes are older than
 *    probe_timeout_ms, either answer of acquire is accepted (per-probe
 *    expiry or expiry from the last grant both fit [B5]), and the
 *    number of probes in flight is taken from the library.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "isoreg.h"

enum { CLOSED, OPEN, HALF_OPEN, FORCED };

struct model {
	int state;
	bool degraded;    /* CLOSED: >= degrade_after failures in a row */
	bool failing;     /* OPEN after a failed recovery */
	unsigned cf, cs;  /* consecutive failures, successes (breaker view) */
	unsigned probes;
	uint64_t probe_first, probe_last; /* ms of grants while probes > 0 */
	uint64_t open_until;
	unsigned backoff; /* failed recoveries in a row */
	uint32_t episode;
	uint64_t succ, fail[ISO_FAIL__COUNT];
};

struct held {
	iso_permit_t p;
	uint32_t episode;
	bool in_half_open;
};

static uint64_t now_ms;
static char seg[64];
static unsigned seg_no, acct_no;
static iso_reg_t *reg;
static char trace[8192];
static size_t trace_len;

static uint64_t fake_clock(void *ctx)
{
	return now_ms * 1000000ull;
}

static void note(const char *fmt, ...)
{
	va_list ap;

	if (trace_len > sizeof(trace) - 200)
		trace_len = 0; /* keep the most recent steps */
	va_start(ap, fmt);
	trace_len += (size_t)vsnprintf(trace + trace_len, sizeof(trace) - trace_len, fmt, ap);
	va_end(ap);
}

static void mismatch(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_api: model and library disagree: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nsteps (latest last):\n%s\n", trace);
	abort();
}

static void new_segment(void)
{
	struct iso_attach_opts opts = { .flags = ISO_ATTACH_CREATE | ISO_ATTACH_EXCL,
					.capacity = 4096 };

	if (reg) {
		iso_detach(reg);
		iso_unlink(seg);
	}
	snprintf(seg, sizeof(seg), "/isoreg-fuzz-api-%d-%u", (int)getpid(), seg_no++);
	if (iso_attach(seg, &opts, &reg) != 0) {
		fprintf(stderr, "fuzz_api: create %s: %s\n", seg, iso_last_error());
		abort();
	}
}

static void cleanup(void)
{
	if (reg) {
		iso_detach(reg);
		iso_unlink(seg);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	now_ms = 1000000;
	iso_clock_set(fake_clock, NULL);
	new_segment();
	atexit(cleanup);
	return 0;
}

/* ------------------------------------------------------- the model */

static enum iso_health m_health(const struct model *m)
{
	switch (m->state) {
	case CLOSED:
		return m->degraded ? ISO_DEGRADED : ISO_HEALTHY;
	case OPEN:
		return m->failing ? ISO_FAILING : ISO_QUARANTINED;
	case HALF_OPEN:
		return ISO_RECOVERING;
	default:
		return ISO_QUARANTINED;
	}
}

static const enum iso_breaker_state m_breaker[] = {
	ISO_BREAKER_CLOSED, ISO_BREAKER_OPEN, ISO_BREAKER_HALF_OPEN, ISO_BREAKER_FORCED_OPEN
};

static uint64_t open_ms(const struct iso_config *c, unsigned backoff, uint64_t retry_after)
{
	uint64_t t = c->open_timeout_ms;

	for (unsigned i = 0; i < backoff && t < c->max_open_timeout_ms; i++)
		t *= 2;
	if (t > c->max_open_timeout_ms)
		t = c->max_open_timeout_ms;
	return t > retry_after ? t : retry_after;
}

/* Lazy timeouts [B5]: whoever looks after the deadline sees the change. */
static void m_lazy(struct model *m, const struct iso_config *c)
{
	if (m->state == OPEN && now_ms >= m->open_until) {
		m->state = HALF_OPEN;
		m->probes = 0;
		m->cs = m->cf = 0;
	}
	if (m->state == HALF_OPEN && m->probes && now_ms >= m->probe_last + c->probe_timeout_ms)
		m->probes = 0; /* every probe is older than the timeout */
}

/* Some, not all, outstanding probes have timed out: SPEC fits both. */
static bool m_probe_ambiguous(const struct model *m, const struct iso_config *c)
{
	return m->state == HALF_OPEN && m->probes &&
	       now_ms >= m->probe_first + c->probe_timeout_ms &&
	       now_ms < m->probe_last + c->probe_timeout_ms;
}

static void m_trip(struct model *m, const struct iso_config *c, uint64_t retry_after,
		   bool failed_recovery)
{
	if (failed_recovery && m->backoff < 31)
		m->backoff++;
	m->state = OPEN;
	m->failing = failed_recovery;
	m->open_until = now_ms + open_ms(c, m->backoff, retry_after);
	m->probes = 0;
	m->cf = m->cs = 0;
	m->degraded = false;
}

/* An outcome that counts for the breaker (current episode). */
static void m_outcome(struct model *m, const struct iso_config *c, bool ok, int type,
		      uint64_t retry_after, bool *half_open_ended)
{
	if (!ok && (c->ignore & ISO_FAIL_MASK(type)))
		return; /* counted in statistics only */
	switch (m->state) {
	case CLOSED:
		if (ok) {
			m->cs++;
			m->cf = 0;
			if (m->degraded && m->cs >= c->success_threshold)
				m->degraded = false;
		} else {
			m->cf++;
			m->cs = 0;
			if (m->cf >= c->degrade_after)
				m->degraded = true;
			if ((c->trip_on & ISO_FAIL_MASK(type)) || m->cf >= c->failure_threshold) {
				m_trip(m, c, retry_after, false);
				m->episode++; /* a trip starts a new episode [B6] */
			}
		}
		break;
	case HALF_OPEN:
		if (m->probes)
			m->probes--; /* each outcome releases one permit [B6] */
		if (ok) {
			m->cs++;
			if (m->cs >= c->success_threshold) {
				m->state = CLOSED;
				m->degraded = false;
				m->failing = false;
				m->backoff = 0;
				m->cf = m->cs = 0;
				*half_open_ended = true;
			}
		} else {
			m_trip(m, c, retry_after, true);
			*half_open_ended = true;
		}
		break;
	default:
		break; /* OPEN, FORCED: work that began before; stats only */
	}
}

/* ---------------------------------------------------- the check */

static void compare(const iso_account_t *h, const struct model *m,
		    const struct iso_config *c)
{
	struct iso_status st;
	int rc = iso_status(h, &st);

	if (rc)
		mismatch("iso_status: %s", iso_strerror(rc));
	if (st.health != m_health(m) || st.breaker != m_breaker[m->state])
		mismatch("health %s breaker %s, model %s %s", iso_health_name(st.health),
			 iso_breaker_state_name(st.breaker), iso_health_name(m_health(m)),
			 iso_breaker_state_name(m_breaker[m->state]));
	if (m->state == OPEN && st.retry_in_ms != m->open_until - now_ms)
		mismatch("retry_in_ms %llu, model %llu", (unsigned long long)st.retry_in_ms,
			 (unsigned long long)(m->open_until - now_ms));
	if (st.successes != m->succ)
		mismatch("successes %llu, model %llu", (unsigned long long)st.successes,
			 (unsigned long long)m->succ);
	uint64_t f = 0;
	for (int t = 0; t < ISO_FAIL__COUNT; t++) {
		if (st.failures_by_type[t] != m->fail[t])
			mismatch("failures[%s] %llu, model %llu", iso_failure_type_name(t),
				 (unsigned long long)st.failures_by_type[t],
				 (unsigned long long)m->fail[t]);
		f += m->fail[t];
	}
	if (st.failures != f || st.operations != f + m->succ)
		mismatch("failures %llu operations %llu, model %llu %llu",
			 (unsigned long long)st.failures, (unsigned long long)st.operations,
			 (unsigned long long)f, (unsigned long long)(f + m->succ));
	if (st.probes_in_flight > c->half_open_max_calls)
		mismatch("%u probes in flight, at most %u", st.probes_in_flight,
			 c->half_open_max_calls);
}

/* SPEC does not say whether an ignored failure frees a probe permit:
 * take the library's count. */
static void adopt_probes(const iso_account_t *h, struct model *m)
{
	struct iso_status st;

	iso_status(h, &st);
	m->probes = st.probes_in_flight;
}

/* ----------------------------------------------------- the driver */

static const uint32_t dts[] = { 0, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 3000, 10000 };
static const uint32_t opens[] = { 1, 10, 50, 100, 300 };
static const uint32_t probes_to[] = { 1, 20, 200, 1000 };

static void advance(const struct model *m, const struct iso_config *c, uint64_t dt)
{
	now_ms += dt;
	/* Never exactly on a deadline: SPEC does not say >= or >. */
	for (int again = 1; again;) {
		again = 0;
		if ((m->state == OPEN && now_ms == m->open_until) ||
		    (m->state == HALF_OPEN && m->probes &&
		     (now_ms == m->probe_first + c->probe_timeout_ms ||
		      now_ms == m->probe_last + c->probe_timeout_ms))) {
			now_ms++;
			again = 1;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iso_config c;
	struct model m = { 0 };
	struct held held[8];
	unsigned nheld = 0;
	iso_account_t h;
	char id[32];
	int rc;

	if (size < 8)
		return 0;
	trace_len = 0;
	trace[0] = '\0';
	iso_config_default(&c);
	c.failure_threshold = 1 + data[0] % 5;
	c.success_threshold = 1 + data[1] % 4;
	c.half_open_max_calls = 1 + data[2] % 3;
	c.degrade_after = 1 + data[3] % 4;
	c.open_timeout_ms = opens[data[4] % 5];
	c.max_open_timeout_ms = c.open_timeout_ms << (data[4] / 5 % 5);
	c.probe_timeout_ms = probes_to[data[5] % 4];
	c.trip_on = data[6] & 0xff;
	c.ignore = data[7] & 0xff & ~c.trip_on;
	note("config ft %u st %u hm %u da %u open %u max %u probe %u trip 0x%x ignore 0x%x\n",
	     c.failure_threshold, c.success_threshold, c.half_open_max_calls,
	     c.degrade_after, c.open_timeout_ms, c.max_open_timeout_ms,
	     c.probe_timeout_ms, c.trip_on, c.ignore);

	now_ms += 100000; /* a fresh start, far from the last input's deadlines */
	snprintf(id, sizeof(id), "a%u", acct_no++);
	rc = iso_register(reg, "fz", id, "KRAKEN", &h);
	if (rc == ISO_EFULL) {
		new_segment();
		rc = iso_register(reg, "fz", id, "KRAKEN", &h);
	}
	if (rc || (rc = iso_configure(&h, &c)) != 0)
		mismatch("setup: %s (%s)", iso_strerror(rc), iso_last_error());
	compare(&h, &m, &c);

	for (size_t i = 8; i + 1 < size; i += 2) {
		uint8_t op = data[i] % 10, arg = data[i + 1];
		int type = arg % ISO_FAIL__COUNT;
		bool ended = false;

		m_lazy(&m, &c);
		switch (op) {
		case 0:
		case 1: { /* time passes */
			uint64_t dt = dts[arg % (sizeof(dts) / sizeof(dts[0]))];

			advance(&m, &c, dt);
			note("t+%llu -> %llu\n", (unsigned long long)dt, (unsigned long long)now_ms);
			m_lazy(&m, &c);
			break;
		}
		case 2: { /* acquire */
			iso_permit_t p;
			bool amb = m_probe_ambiguous(&m, &c);

			rc = iso_acquire(&h, &p);
			note("acquire -> %s reason %s\n", iso_strerror(rc), iso_reason_name(p.reason));
			if (rc != 0 && rc != ISO_EOPEN)
				mismatch("acquire: %s", iso_strerror(rc));
			bool granted;
			int reason;
			switch (m.state) {
			case CLOSED:
				granted = true;
				reason = m.degraded ? ISO_REASON_DEGRADED : ISO_REASON_HEALTHY;
				break;
			case OPEN:
				granted = false;
				reason = ISO_REASON_OPEN;
				if (rc == ISO_EOPEN && p.retry_in_ms != m.open_until - now_ms)
					mismatch("acquire retry_in_ms %llu, model %llu",
						 (unsigned long long)p.retry_in_ms,
						 (unsigned long long)(m.open_until - now_ms));
				break;
			case HALF_OPEN:
				granted = m.probes < c.half_open_max_calls;
				if (amb) /* either expiry rule: take the library's */
					granted = rc == 0;
				reason = granted ? ISO_REASON_PROBE : ISO_REASON_HALF_OPEN_LIMIT;
				break;
			default:
				granted = false;
				reason = ISO_REASON_FORCED_OPEN;
				break;
			}
			if ((rc == 0) != granted)
				mismatch("acquire %s, model %s", iso_strerror(rc),
					 granted ? "grants" : "refuses");
			if (p.reason != reason &&
			    !(reason == ISO_REASON_PROBE && p.reason == ISO_REASON_RECOVERY))
				mismatch("acquire reason %s, model %s", iso_reason_name(p.reason),
					 iso_reason_name(reason));
			if (m.state == HALF_OPEN && granted) {
				if (amb) {
					struct iso_status st;

					iso_status(&h, &st);
					m.probes = st.probes_in_flight;
				} else {
					m.probes++;
				}
				if (m.probes <= 1)
					m.probe_first = now_ms;
				m.probe_last = now_ms;
			}
			if (granted && nheld < 8)
				held[nheld++] = (struct held){ p, m.episode, m.state == HALF_OPEN };
			break;
		}
		case 3:
		case 4:
		case 5: { /* an outcome with no permit: the current episode */
			bool ok = op == 3;
			uint64_t ra = op == 5 ? (uint64_t)arg * 40 : 0;

			if (ok)
				rc = iso_record_success(&h, NULL, arg * 1000ull);
			else if (op == 4)
				rc = iso_record_failure(&h, NULL, type, arg * 1000ull);
			else
				rc = iso_record_failure_retry(&h, NULL, type, 0, ra);
			note("%s %s retry %llu -> %s\n", ok ? "success" : "failure",
			     ok ? "" : iso_failure_type_name(type), (unsigned long long)ra,
			     iso_strerror(rc));
			if (rc)
				mismatch("record: %s", iso_strerror(rc));
			if (ok)
				m.succ++;
			else
				m.fail[type]++;
			bool ignored_in_half_open = !ok && m.state == HALF_OPEN &&
						    (c.ignore & ISO_FAIL_MASK(type));
			m_outcome(&m, &c, ok, type, ra, &ended);
			if (ignored_in_half_open)
				adopt_probes(&h, &m);
			break;
		}
		case 6:
		case 7: { /* an outcome through a permit taken earlier */
			if (!nheld)
				break;
			unsigned k = arg % nheld;
			struct held hp = held[k];
			bool ok = op == 6;

			held[k] = held[--nheld];
			if (ok)
				rc = iso_record_success(&h, &hp.p, 1000);
			else
				rc = iso_record_failure(&h, &hp.p, type, 1000);
			note("%s %s with permit (episode %u, now %u) -> %s\n",
			     ok ? "success" : "failure", ok ? "" : iso_failure_type_name(type),
			     hp.episode, m.episode, iso_strerror(rc));
			if (rc)
				mismatch("record with permit: %s", iso_strerror(rc));
			if (ok)
				m.succ++;
			else
				m.fail[type]++;
			if (hp.episode == m.episode) {
				bool ignored_in_half_open = !ok && m.state == HALF_OPEN &&
							    (c.ignore & ISO_FAIL_MASK(type));

				m_outcome(&m, &c, ok, type, 0, &ended);
				if (ignored_in_half_open)
					adopt_probes(&h, &m);
			}
			/* else: work from before a trip or reset; stats only */
			break;
		}
		case 8:
			rc = iso_reset(&h);
			note("reset -> %s\n", iso_strerror(rc));
			if (rc)
				mismatch("reset: %s", iso_strerror(rc));
			m.state = CLOSED;
			m.degraded = m.failing = false;
			m.cf = m.cs = m.probes = m.backoff = 0;
			m.episode++;
			break;
		case 9:
			if (arg & 1)
				break; /* half the time: just check */
			rc = iso_force_open(&h);
			note("force_open -> %s\n", iso_strerror(rc));
			if (rc)
				mismatch("force_open: %s", iso_strerror(rc));
			m.state = FORCED;
			m.probes = 0;
			m.episode++; /* only iso_reset leaves: held permits are old */
			break;
		}
		if (ended) {
			/* A HALF_OPEN episode ended (closed or reopened): SPEC
			 * does not say whether its probes' late outcomes still
			 * count, so the fuzzer never records them. */
			for (unsigned k = 0; k < nheld;)
				if (held[k].in_half_open && held[k].episode == m.episode)
					held[k] = held[--nheld];
				else
					k++;
			if (m.state == OPEN || m.state == CLOSED)
				m.episode++; /* keep the rest apart from what follows */
		}
		m_lazy(&m, &c);
		compare(&h, &m, &c);
	}
	iso_retire(&h);
	return 0;
}
