/*
 * trader - the independent-trader pattern in C: a supervisor forks one
 * worker process per broker, each worker trades its accounts through
 * iso_call against a simulated exchange, and the supervisor restarts a
 * worker that dies, with back-off.
 *
 * Why processes, not threads, are the unit of isolation here. The
 * reference runs one *thread* per broker and wraps it in try/except; that
 * works in Python because an exception is the worst a thread can do. In C
 * the worst is a wild write or a segfault, and either one in a thread
 * takes the whole process down with every other broker's thread in it:
 * there is no per-thread address space to contain it. A process is the
 * smallest thing the kernel will let die alone. So each broker gets one;
 * a crash, an abort or a SIGKILL in KRAKEN's worker ends KRAKEN's worker,
 * COINBASE's and BINANCE's carry on, and the supervisor (which does no
 * trading and never touches the registry itself) starts KRAKEN again.
 * The registry survives any of these deaths by design: it is a shared
 * segment with no lock in it [S6], a half-done update is never visible
 * [B4], and a probe permit the dead worker held frees itself after
 * probe_timeout_ms [B5].
 *
 * The supervisor never calls into the library (it only validates names):
 * a process that forks children should not carry RCU or other library
 * threads' state across fork(). The segment is created by a short-lived
 * preflight child, and each worker attaches on its own after fork.
 *
 * Output: the supervisor's events, one line each, on stdout (written with
 * a single write(2), so lines from several processes never interleave):
 *   trader: worker KRAKEN pid 4242 started (3 accounts)
 *   trader: worker KRAKEN pid 4242 killed by signal 9 (Killed) after 12.3 s; restart in 100 ms
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/cli.h"
#include "isoreg.h"
#include "../common/clock.h"
#include "../common/prng.h"

#define PROG "trader"
#define MAX_BROKERS 16
#define MAX_ACCOUNTS 64
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
#define HEALTHY_RUN_MS 10000u /* a worker that lived this long resets back-off */
#define STOP_GRACE_MS 5000u   /* SIGTERM, then SIGKILL after this */

struct opts {
	const char *segment;
	char brokers[MAX_BROKERS][ISO_BROKER_MAX + 1];
	int nbrokers;
	uint32_t accounts;  /* per broker: platform/main + user/user1.. */
	uint32_t duration_s; /* 0: until SIGINT/SIGTERM */
	double fail_rate;
};

/* One broker's worker, as the supervisor sees it. */
struct worker {
	pid_t pid;            /* 0 while not running */
	uint64_t started_ms;
	uint64_t restart_at_ms; /* when to start it again; 0: now */
	uint32_t backoff_ms;
	unsigned restarts;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = { (time_t)(us / 1000000),
			       (long)(us % 1000000) * 1000 };
	nanosleep(&ts, NULL); /* a signal cuts it short: that is wanted */
}

/* One line on stdout in one write(2): whole even with several writers. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(STDOUT_FILENO, line, (size_t)n);
	(void)w; /* nobody to tell if stdout is gone */
}

/* ------------------------------------------------------------ exchange */

/*
 * The simulated exchange: each order takes 0.2-1.5 ms and fails with
 * probability fail_rate, in one of the raw forms real exchanges and
 * transports produce. The operation reports the raw form; the library's
 * tables classify it. That is the point of the example: the trading code
 * never decides failure types by hand.
 */
enum raw_kind { RAW_ERRNO, RAW_HTTP, RAW_CURL, RAW_MESSAGE };

struct raw_failure {
	enum raw_kind kind;
	int code;
	const char *text; /* HTTP: Retry-After; MESSAGE: the exchange's text */
};

static const struct raw_failure raw_failures[] = {
	{ RAW_ERRNO, ECONNRESET, NULL },
	{ RAW_ERRNO, ETIMEDOUT, NULL },
	{ RAW_CURL, 28, NULL },                     /* OPERATION_TIMEDOUT */
	{ RAW_CURL, 56, NULL },                     /* RECV_ERROR */
	{ RAW_HTTP, 429, "2" },                     /* rate limited, 2 s */
	{ RAW_HTTP, 503, NULL },
	{ RAW_HTTP, 504, NULL },
	{ RAW_MESSAGE, 0, "EOrder:Insufficient funds" },   /* Kraken */
	{ RAW_MESSAGE, 0, "INSUFFICIENT_FUND" },           /* Coinbase */
	{ RAW_MESSAGE, 0, "Unknown order sent." },         /* Binance */
	{ RAW_MESSAGE, 0, "EService:Unavailable" },        /* Kraken */
};

struct sim {
	uint64_t rng;
	double fail_rate;
};

static double uniform(uint64_t *s)
{
	return (double)(tc_rand(s) >> 11) / 9007199254740992.0;
}

/* The guarded operation: place one simulated order. */
static int sim_order(void *ctx, struct iso_outcome *out)
{
	struct sim *sim = ctx;

	sleep_us(200 + tc_rand(&sim->rng) % 1300);
	if (uniform(&sim->rng) >= sim->fail_rate) {
		iso_outcome_success(out);
		return 0;
	}
	const struct raw_failure *f = &raw_failures[
		tc_rand(&sim->rng) %
		(sizeof(raw_failures) / sizeof(raw_failures[0]))];
	switch (f->kind) {
	case RAW_ERRNO: iso_outcome_errno(out, f->code); break;
	case RAW_HTTP: iso_outcome_http(out, f->code, f->text); break;
	case RAW_CURL: iso_outcome_curl(out, f->code); break;
	case RAW_MESSAGE: iso_outcome_message(out, f->text); break;
	}
	return -1;
}

/* -------------------------------------------------------------- worker */

static volatile sig_atomic_t worker_stop;

static void on_worker_stop(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* Attach (creating if needed) and register the broker's accounts. */
static int open_accounts(const struct opts *o, const char *broker,
			 iso_reg_t **reg, iso_account_t *accts)
{
	struct iso_attach_opts ao = { .flags = ISO_ATTACH_CREATE };
	const char *seg = cli_segment(o->segment);
	char what[320];
	int rc;

	/* ISOREG_OWNER / ISOREG_MODE, as every tool [R7]. */
	if (cli_trust_opts(PROG, &ao) < 0)
		return -1;
	rc = iso_attach(seg, &ao, reg);
	if (rc) {
		snprintf(what, sizeof(what), "attach %s", seg);
		cli_iso_error(PROG, what, rc);
		return -1;
	}
	for (uint32_t i = 0; i < o->accounts; i++) {
		char id[16];
		if (i == 0)
			rc = iso_register(*reg, "platform", "main", broker,
					  &accts[i]);
		else {
			snprintf(id, sizeof(id), "user%u", i);
			rc = iso_register(*reg, "user", id, broker, &accts[i]);
		}
		if (rc) {
			snprintf(what, sizeof(what), "register %s account %u",
				 broker, i);
			cli_iso_error(PROG, what, rc);
			iso_detach(*reg);
			return -1;
		}
	}
	return 0;
}

static int worker_main(const struct opts *o, const char *broker)
{
	iso_reg_t *reg;
	iso_account_t accts[MAX_ACCOUNTS];
	struct sim sim = { .fail_rate = o->fail_rate };
	uint64_t calls = 0, ok = 0, failed = 0, refused = 0;

	if (open_accounts(o, broker, &reg, accts))
		return CLI_EXIT_RUNTIME;
	sim.rng = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull ^
		  (uint64_t)time(NULL);
	uint64_t rounds = 0;
	while (!worker_stop) {
		uint32_t acted = 0;
		/* Off the hot path, every 1024 rounds: is our segment still the
		 * one its name points at? An operator may have unlinked and
		 * created it anew; trading on the orphan would put us out of
		 * every tool's sight and out of reach of their halts. */
		if ((++rounds & 1023) == 0 && iso_segment_check(reg) == ISO_ESTALE) {
			say("trader: worker %s pid %d: segment %s was replaced or "
			    "unlinked; attaching again", broker, (int)getpid(),
			    cli_segment(o->segment));
			iso_detach(reg);
			if (open_accounts(o, broker, &reg, accts))
				return CLI_EXIT_RUNTIME;
		}
		for (uint32_t i = 0; i < o->accounts && !worker_stop; i++) {
			struct iso_call_result res;
			int rc = iso_call(&accts[i], sim_order, &sim, &res);
			calls++;
			if (rc == 0 || rc == ISO_CALL_FAILED)
				acted++;
			if (rc == 0)
				ok++;
			else if (rc == ISO_CALL_FAILED)
				failed++;
			else if (rc == ISO_EOPEN || rc == ISO_ELIMIT)
				refused++; /* this account sits out; others go on */
			else {
				cli_iso_error(PROG, "iso_call", rc);
				iso_detach(reg);
				return CLI_EXIT_RUNTIME;
			}
		}
		/* Every account refused this round: do not spin while their
		 * breakers wait out the open time. */
		if (!acted)
			sleep_us(10000);
	}
	say("trader: worker %s pid %d stopping: %llu calls, %llu ok, "
	    "%llu failed, %llu refused", broker, (int)getpid(),
	    (unsigned long long)calls, (unsigned long long)ok,
	    (unsigned long long)failed, (unsigned long long)refused);
	iso_detach(reg);
	return CLI_EXIT_OK;
}

/* In the child after fork: become @broker's worker; never returns. */
static void become_worker(const struct opts *o, int b, pid_t parent)
{
	struct sigaction sa = { .sa_handler = on_worker_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Die with the supervisor: an orphan would trade unsupervised. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(CLI_EXIT_RUNTIME);
	_exit(worker_main(o, o->brokers[b]));
}

/* ---------------------------------------------------------- supervisor */

static int start_worker(const struct opts *o, struct worker *w, int b)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		cli_error(PROG, "fork for %s: %s", o->brokers[b],
			  strerror(errno));
		return -1;
	}
	if (pid == 0)
		become_worker(o, b, parent);
	w->pid = pid;
	w->started_ms = tc_mono_ms();
	say("trader: worker %s pid %d started (%u accounts)", o->brokers[b],
	    (int)pid, o->accounts);
	return 0;
}

/* How a worker ended, in words. */
static void describe_end(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)",
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with status %d",
			 WEXITSTATUS(status));
}

/* A worker died: log it and schedule its restart with back-off. */
static void on_death(const struct opts *o, struct worker *w, int b,
		     int status)
{
	char how[96];
	uint64_t now = tc_mono_ms();
	uint64_t lived = now - w->started_ms;

	describe_end(status, how, sizeof(how));
	/* A worker that ran a good while died of something new: restart
	 * fast. One that keeps dying at once backs off, so a broken broker
	 * costs a fork every few seconds, not a fork storm. */
	if (lived >= HEALTHY_RUN_MS || w->backoff_ms == 0)
		w->backoff_ms = BACKOFF_MIN_MS;
	else if (w->backoff_ms < BACKOFF_MAX_MS)
		w->backoff_ms = w->backoff_ms * 2 > BACKOFF_MAX_MS ?
			BACKOFF_MAX_MS : w->backoff_ms * 2;
	say("trader: worker %s pid %d %s after %.1f s; restart in %u ms",
	    o->brokers[b], (int)w->pid, how, (double)lived / 1000.0,
	    w->backoff_ms);
	w->pid = 0;
	w->restart_at_ms = now + w->backoff_ms;
	w->restarts++;
}

static int find_worker(struct worker *ws, int n, pid_t pid)
{
	for (int i = 0; i < n; i++)
		if (ws[i].pid == pid)
			return i;
	return -1;
}

/* SIGTERM every worker; SIGKILL those still there after the grace. */
static void stop_workers(const struct opts *o, struct worker *ws)
{
	int live = 0, st;
	for (int b = 0; b < o->nbrokers; b++)
		if (ws[b].pid > 0) {
			kill(ws[b].pid, SIGTERM);
			live++;
		}
	uint64_t end = tc_mono_ms() + STOP_GRACE_MS;
	while (live > 0) {
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid > 0) {
			int b = find_worker(ws, o->nbrokers, pid);
			if (b >= 0) {
				ws[b].pid = 0;
				live--;
			}
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (tc_mono_ms() >= end) {
			for (int b = 0; b < o->nbrokers; b++)
				if (ws[b].pid > 0) {
					say("trader: worker %s pid %d ignored "
					    "SIGTERM; killing it",
					    o->brokers[b], (int)ws[b].pid);
					kill(ws[b].pid, SIGKILL);
				}
			end = UINT64_MAX;
		}
		sleep_us(10000);
	}
}

/*
 * Create the segment and register every account once, in a child, before
 * any worker starts: a bad segment name or a full segment is reported
 * once, with exit 1, instead of as an endless series of restarts.
 */
static int preflight(const struct opts *o)
{
	int st;
	pid_t pid = fork();
	if (pid < 0) {
		cli_error(PROG, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		for (int b = 0; b < o->nbrokers; b++) {
			iso_reg_t *reg;
			iso_account_t accts[MAX_ACCOUNTS];
			if (open_accounts(o, o->brokers[b], &reg, accts))
				_exit(CLI_EXIT_RUNTIME);
			iso_detach(reg);
		}
		_exit(CLI_EXIT_OK);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int supervise(const struct opts *o)
{
	struct worker ws[MAX_BROKERS] = { { 0 } };
	uint64_t deadline = o->duration_s ?
		tc_mono_ms() + (uint64_t)o->duration_s * 1000 : 0;
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (preflight(o))
		return CLI_EXIT_RUNTIME;
	for (int b = 0; b < o->nbrokers; b++)
		if (start_worker(o, &ws[b], b))
			stop_requested = 1;

	while (!stop_requested && (!deadline || tc_mono_ms() < deadline)) {
		int st;
		pid_t pid;
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
			int b = find_worker(ws, o->nbrokers, pid);
			if (b >= 0)
				on_death(o, &ws[b], b, st);
		}
		uint64_t now = tc_mono_ms();
		for (int b = 0; b < o->nbrokers && !stop_requested; b++)
			if (ws[b].pid == 0 && now >= ws[b].restart_at_ms &&
			    start_worker(o, &ws[b], b))
				/* fork failing is the host's trouble: retry
				 * on the back-off schedule. */
				ws[b].restart_at_ms = now + BACKOFF_MAX_MS;
		sleep_us(20000);
	}
	say("trader: stopping");
	stop_workers(o, ws);
	unsigned restarts = 0;
	for (int b = 0; b < o->nbrokers; b++)
		restarts += ws[b].restarts;
	say("trader: done (%u restarts)", restarts);
	return CLI_EXIT_OK;
}

/* ------------------------------------------------------------- options */

static void usage(FILE *f)
{
	fprintf(f,
"usage: trader [options]\n"
"\n"
"A supervisor that runs one worker process per broker. Each worker trades\n"
"its accounts (platform/main/BROKER and user/userN/BROKER) through iso_call\n"
"against a simulated exchange; a worker that dies is restarted with\n"
"back-off while the other brokers go on.\n"
"\n"
"  --segment NAME     the registry segment (default: $ISOREG_SEGMENT or /isoreg)\n"
"  --brokers LIST     comma-separated brokers (default: KRAKEN,COINBASE,BINANCE)\n"
"  --accounts N       accounts per broker, 1..%d (default: 3)\n"
"  --duration SECONDS run this long; 0 runs until SIGINT/SIGTERM (default: 0)\n"
"  --fail-rate P      probability 0..1 that a simulated order fails (default: 0.02)\n"
"  --help             this text\n"
"\n"
"Exit status: 0 after a clean stop, 1 on a runtime error, 2 on bad usage.\n",
		MAX_ACCOUNTS);
}

static int parse_brokers(struct opts *o, const char *list)
{
	char buf[512];
	if (strlen(list) >= sizeof(buf)) {
		cli_error(PROG, "--brokers: list too long");
		return -1;
	}
	strcpy(buf, list);
	o->nbrokers = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		struct iso_key k;
		if (o->nbrokers == MAX_BROKERS) {
			cli_error(PROG, "--brokers: at most %d brokers",
				  MAX_BROKERS);
			return -1;
		}
		/* The library's own rules, so a bad name fails here. */
		if (iso_key_make("platform", "main", t, &k)) {
			cli_error(PROG, "--brokers: '%s': %s", t,
				  iso_last_error());
			return -1;
		}
		for (int i = 0; i < o->nbrokers; i++)
			if (!strcmp(o->brokers[i], k.broker)) {
				cli_error(PROG, "--brokers: %s given twice",
					  k.broker);
				return -1;
			}
		strcpy(o->brokers[o->nbrokers++], k.broker);
	}
	if (o->nbrokers == 0) {
		cli_error(PROG, "--brokers: no broker in '%s'", list);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .accounts = 3, .fail_rate = 0.02 };

	if (parse_brokers(&o, "KRAKEN,COINBASE,BINANCE"))
		return CLI_EXIT_RUNTIME;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if (strcmp(a, "--segment") && strcmp(a, "--brokers") &&
		    strcmp(a, "--accounts") && strcmp(a, "--duration") &&
		    strcmp(a, "--fail-rate")) {
			cli_error(PROG, "unknown option '%s' (see --help)", a);
			return CLI_EXIT_USAGE;
		}
		if (!v) {
			cli_error(PROG, "%s needs a value", a);
			return CLI_EXIT_USAGE;
		}
		i++;
		if (!strcmp(a, "--segment")) {
			if (!*v) {
				cli_error(PROG, "--segment: empty name");
				return CLI_EXIT_USAGE;
			}
			o.segment = v;
		} else if (!strcmp(a, "--brokers")) {
			if (parse_brokers(&o, v))
				return CLI_EXIT_USAGE;
		} else if (!strcmp(a, "--accounts")) {
			if (cli_parse_u32(PROG, "--accounts", v, 1,
					  MAX_ACCOUNTS, &o.accounts))
				return CLI_EXIT_USAGE;
		} else if (!strcmp(a, "--duration")) {
			if (cli_parse_u32(PROG, "--duration", v, 0,
					  7 * 24 * 3600, &o.duration_s))
				return CLI_EXIT_USAGE;
		} else {
			if (cli_parse_double(PROG, "--fail-rate", v, 0.0,
					     &o.fail_rate))
				return CLI_EXIT_USAGE;
			if (o.fail_rate > 1.0) {
				cli_error(PROG, "--fail-rate: %s is above 1",
					  v);
				return CLI_EXIT_USAGE;
			}
		}
	}
	return supervise(&o);
}
