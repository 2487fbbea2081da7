/*
 * operator.c - what operators do to accounts, attributed [R8]: halt,
 * release, reset, retire and configure with a reason, each an event that
 * carries the uid and pid of the process that did it. The breaker side of
 * each is one event of the pure function (breaker.c): RELEASE lifts only a
 * halt and RESET_UNHALTED leaves one alone, so "release what is halted"
 * and "reset unless halted" are each one CAS, never a check and then an
 * act that a racing halt could slip between.
 */
#include <string.h>

#include "failpoint.h"
#include "handle.h"


/* The reason text of @op, checked (events.c): "" when none, since an
 * operator's action is always logged. */
static int op_text(const struct iso_op *op, const char **text)
{
	*text = op && op->reason ? op->reason : "";
	return iso_op_check(op);
}

int iso_halt(const iso_account_t *acct, const struct iso_op *op)
{
	const char *text;
	bool changed;
	int rc = op_text(op, &text);
	if (rc)
		return rc;
	rc = iso_operator_event(acct, ISO_BEV_FORCE_OPEN, ISO_CAUSE_FORCE_OPEN,
				text, &changed);
	if (rc)
		return rc;
	return changed ? 0 : iso_fail(ISO_EEXIST, "account (slot %u) is "
				      "already halted", acct->slot);
}

int iso_release(const iso_account_t *acct, const struct iso_op *op)
{
	const char *text;
	bool changed;
	int rc = op_text(op, &text);
	if (rc)
		return rc;
	rc = iso_operator_event(acct, ISO_BEV_RELEASE, ISO_CAUSE_RELEASE, text,
				&changed);
	if (rc)
		return rc;
	return changed ? 0 : iso_fail(ISO_ENOENT, "account (slot %u) is not "
				      "halted: nothing to release", acct->slot);
}

int iso_reset_op(const iso_account_t *acct, const struct iso_op *op)
{
	const char *text;
	bool changed;
	int rc = op_text(op, &text);
	if (rc)
		return rc;
	bool force = op && (op->flags & ISO_OP_FORCE);
	rc = iso_operator_event(acct, force ? ISO_BEV_RESET : ISO_BEV_RESET_UNHALTED,
				ISO_CAUSE_RESET, text, &changed);
	if (rc || force || changed)
		return rc;
	/* Unchanged: a reset always moves the episode, unless the account
	 * is halted and the reset left the halt alone. */
	struct iso_status st;
	if (iso_status(acct, &st) == 0 && st.breaker == ISO_BREAKER_FORCED_OPEN)
		return iso_fail(ISO_EPERM, "account (slot %u) is halted by an "
				"operator: release it (iso_release, isoctl "
				"release), or reset with force", acct->slot);
	return 0;
}

int iso_retire_op(const iso_account_t *acct, const struct iso_op *op)
{
	const char *text;
	int rc = op_text(op, &text);
	return rc ? rc : iso_retire_text(acct, text);
}

int iso_configure_op(const iso_account_t *acct, const struct iso_config *cfg,
		     const struct iso_op *op)
{
	const char *text;
	int rc = op_text(op, &text);
	return rc ? rc : iso_configure_text(acct, cfg, text);
}

/* The segment's default config, each field stored whole (config.c). */
int iso_configure_default(iso_reg_t *reg, const struct iso_config *cfg)
{
	int rc;
	if (!iso_reg_ok(reg))
		return iso_fail(ISO_EINVAL, "iso_configure_default: not an "
				"attachment");
	if (reg->rdonly)
		return iso_fail(ISO_ERDONLY, "iso_configure_default: segment "
				"%s is attached read-only", reg->name);
	if ((rc = iso_config_validate(cfg)) || (rc = iso_config_fits(reg, cfg)))
		return rc;
	iso_config_store_shm(&reg->hdr->defaults, &reg->hdr->defaults_budget,
			     reg->win ? &reg->hdr->defaults_window : NULL,
			     &reg->hdr->features, cfg, 0);
	return 0;
}

int iso_configure_default_op(iso_reg_t *reg, const struct iso_config *cfg,
			     const struct iso_op *op)
{
	const char *text;
	int rc = op_text(op, &text);
	if (rc || (rc = iso_configure_default(reg, cfg)))
		return rc;
	iso_event_append_text(reg, ISO_NO_SLOT, 0, ISO_HEALTHY, ISO_HEALTHY,
			      ISO_BREAKER_CLOSED, ISO_CAUSE_DEFAULTS, -1, text);
	return 0;
}

/* --------------------------------------------- reset, halt, configure */

int iso_reset(const iso_account_t *acct)
{
	return iso_operator_event(acct, ISO_BEV_RESET, ISO_CAUSE_RESET, NULL, NULL);
}

int iso_force_open(const iso_account_t *acct)
{
	return iso_operator_event(acct, ISO_BEV_FORCE_OPEN, ISO_CAUSE_FORCE_OPEN,
				  NULL, NULL);
}

int iso_configure(const iso_account_t *acct, const struct iso_config *cfg)
{
	return iso_configure_text(acct, cfg, NULL);
}

int iso_configure_text(const iso_account_t *acct, const struct iso_config *cfg,
		       const char *text)
{
	int rc;
	struct iso_slot *s;
	if (cfg && (rc = iso_config_validate(cfg)))
		return rc;
	if (!(s = writable_slot_of(acct, &rc)))
		return rc;
	if (cfg && (rc = iso_config_fits(acct->reg, cfg)))
		return rc;
	if (cfg) {
		iso_config_store_shm(&s->config, &s->budget_cfg,
				     iso_slot_wincfg(acct->reg, s),
				     &acct->reg->hdr->features, cfg, 1);
	} else {
		ISO_FP("configure.override");
		/* release: pairs with iso_slot_config's acquire. */
		iso_store8_release(&s->config.override, 0);
	}
	check_landed(acct, s);
	/* Not a transition, but operators want to see it in the stream. */
	struct iso_bw b = iso_bw_unpack(iso_bw_load(&s->breaker, &s->bw_version));
	iso_event_append_text(acct->reg, acct->slot, acct->gen, iso_bw_health(&b),
			      iso_bw_health(&b), (enum iso_breaker_state)b.state,
			      ISO_CAUSE_CONFIG, -1, text);
	return 0;
}
