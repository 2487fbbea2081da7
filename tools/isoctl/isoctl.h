/*
 * isoctl.h - what the isoctl sub-commands share: the invocation context, the
 * option-parsing convention, and the JSON builders.
 *
 * Each sub-command lives in a cmd_*.c file, parses its own options, asks the
 * library, prints, and returns an exit code (0 ok, 1 runtime error, 2 usage).
 * None of them decides anything about an account: that is the library's job.
 */
#ifndef ISOCTL_H
#define ISOCTL_H

#include <getopt.h>
#include <stdbool.h>

#include <json-c/json.h>

#include "isoreg.h"
#include "../common/cli.h"

/* One invocation of isoctl. */
struct isoctl {
	const char *segment;  /* --segment, or NULL for ISOREG_SEGMENT/"/isoreg" */
	const char *cmd;      /* the sub-command's name */
	char prog[64];        /* "isoctl <cmd>", the prefix of every message */
};

/* Options every sub-command accepts; put at the end of its option table. */
#define ISOCTL_COMMON_OPTS                                          \
	{ "help", no_argument, NULL, 'h' },                         \
	{ "segment", required_argument, NULL, 'S' },                \
	{ "owner", required_argument, NULL, 'O' },                  \
	{ NULL, 0, NULL, 0 }

/* The short-option string every sub-command starts from (-h, -s NAME):
 * leading ':' so that a missing value comes back as ':' and we word the
 * error ourselves. */
#define ISOCTL_SHORT_OPTS ":hs:"

/**
 * isoctl_common_opt - handle an option char that a sub-command's own switch
 * did not: --help, --segment, --owner, unknown options and missing values.
 *
 * Returns -1 to go on parsing, or the exit code the sub-command must return
 * now (0 after --help, 2 after a usage error).
 */
int isoctl_common_opt(struct isoctl *ctx, int c, int argc, char **argv);

/**
 * isoctl_view_open - the front of a read-only view that takes only --json
 * (info, report): parse the options, refuse arguments, attach read-only.
 * @json: (output) whether --json was given.
 * @reg: (output) the attachment, when it returns -1.
 *
 * Returns -1 to go on, or the exit code the sub-command must return now.
 */
int isoctl_view_open(struct isoctl *ctx, int argc, char **argv, bool *json,
		     iso_reg_t **reg);

/**
 * isoctl_verify - after a read of @reg, make sure the segment did not
 * shrink or get overwritten during it (iso_segment_check) [R7].
 * Returns CLI_EXIT_OK, or CLI_EXIT_RUNTIME after saying that what was read
 * cannot be trusted. An unlink during the read is no error: what was read
 * was the segment at the time.
 */
int isoctl_verify(struct isoctl *ctx, iso_reg_t *reg);

/**
 * isoctl_segment_info - iso_segment_info into @info, or say why not and
 * detach @reg. Returns CLI_EXIT_OK, or CLI_EXIT_RUNTIME with @reg gone.
 */
int isoctl_segment_info(struct isoctl *ctx, iso_reg_t *reg,
			struct iso_segment_info *info);

/** isoctl_help - print the sub-command's full help on stdout. */
void isoctl_help(const struct isoctl *ctx);

/**
 * isoctl_usage_error - print "isoctl <cmd>: <message>" and a hint to
 * --help on stderr. Returns CLI_EXIT_USAGE so callers can return it.
 */
int isoctl_usage_error(const struct isoctl *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * isoctl_print_json - print @obj (pretty unless @compact) and a newline on
 * stdout, then drop the reference. Slashes in keys are not escaped.
 */
void isoctl_print_json(json_object *obj, bool compact);

/**
 * isoctl_lookup - attach (read-only if @rdonly) and find the account @text.
 * @reg, @acct: (output) the attachment and the handle; *@reg is NULL on
 *              return if attaching failed.
 *
 * Returns 0, 2 for a bad key (message names the field), or 1 if the
 * segment cannot be attached or the account does not exist (message says
 * which). The caller detaches *@reg when it is not NULL.
 */
int isoctl_lookup(struct isoctl *ctx, const char *text, bool rdonly,
		  iso_reg_t **reg, iso_account_t *acct, struct iso_key *key);

/**
 * isoctl_config_fields - apply "field=value" words to @cfg with
 * iso_config_set, then validate the whole.
 * Returns 0, or 2 after printing which word or field was refused.
 */
int isoctl_config_fields(struct isoctl *ctx, struct iso_config *cfg, int n,
			 char **words);

/**
 * isoctl_record_state - record (@put) or drop entry @e in the segment's
 * state file, stamped with the caller's uid, the time and @reason, unless
 * @no_state. Dropping what was not recorded is no error. Returns
 * CLI_EXIT_OK, or CLI_EXIT_RUNTIME after saying the action happened in
 * the segment but will not outlive it.
 */
int isoctl_record_state(struct isoctl *ctx, bool put, struct iso_state_entry *e,
			const char *reason, bool no_state);

/* JSON builders (json.c). Each returns a new object owned by the caller. */
json_object *isoctl_json_config(const struct iso_config *cfg);
json_object *isoctl_json_status(const struct iso_status *st);
json_object *isoctl_json_report(const struct iso_report *rep,
				const char *segment);
json_object *isoctl_json_event(const struct iso_event *ev);
json_object *isoctl_json_info(const struct iso_segment_info *info);
json_object *isoctl_json_doctor(const struct iso_doctor_report *rep);

/**
 * isoctl_print_config - the config as "field=value" lines, indented by
 * @indent spaces, in the form `isoctl config` accepts back.
 */
void isoctl_print_config(const struct iso_config *cfg, int indent);

/* Sub-commands: (ctx, argc, argv) with argv[0] the sub-command name. */
int isoctl_cmd_create(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_unlink(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_info(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_doctor(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_list(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_status(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_report(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_register(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_reset(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_halt(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_release(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_retire(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_record(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_config(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_events(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_check(struct isoctl *ctx, int argc, char **argv);
int isoctl_cmd_state(struct isoctl *ctx, int argc, char **argv);

#endif /* ISOCTL_H */
