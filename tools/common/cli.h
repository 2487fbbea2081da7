/*
 * cli.h - small helpers shared by the isoreg command-line tools: attaching
 * the segment the user asked for, parsing numbers and keys strictly, and
 * formatting durations and times for people.
 *
 * Everything here parses or prints; nothing here decides anything about an
 * account (the library does). Errors are printed to stderr prefixed with the
 * program name given by the caller, and say what was wrong with which value,
 * so a tool can simply return its exit code.
 */
#ifndef ISO_TOOLS_CLI_H
#define ISO_TOOLS_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "isoreg.h"
#include "fmt.h"

/* Exit codes every tool uses: 0 ok, 1 runtime error, 2 usage error. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_RUNTIME 1
#define CLI_EXIT_USAGE 2

/**
 * cli_error - print "@prog: <formatted message>\n" on stderr.
 * @prog: the program (and sub-command) name, e.g. "isoctl status".
 */
void cli_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/**
 * cli_iso_error - print "@prog: <what>: <iso_strerror(rc)>: <iso_last_error()>"
 * on stderr, leaving the detail out when the library recorded none.
 * @what: what was being done, e.g. "attach /isoreg".
 * @rc: the negative ISO_E* code returned.
 *
 * Must be called right after the failing iso_ call, on the same thread,
 * before another iso_ call can overwrite the thread's last error.
 */
void cli_iso_error(const char *prog, const char *what, int rc);

/**
 * cli_segment - the segment a tool should use: @arg (from --segment) if not
 * NULL, else iso_segment_name() (ISOREG_SEGMENT, else "/isoreg").
 */
const char *cli_segment(const char *arg);

/**
 * cli_segment_origin - where the name cli_segment(@arg) came from, for
 * messages: " (from $ISOREG_SEGMENT)" when @arg is NULL and the variable
 * is set, else "".
 */
const char *cli_segment_origin(const char *arg);

/**
 * cli_segment_error - report that @verb ("attach", "create", "unlink") of
 * the segment cli_segment(@arg) failed with @rc, and choose the exit code.
 * @arg: the --segment argument, or NULL.
 *
 * A malformed name (ISO_EINVAL from a call whose only other input is valid)
 * is a usage error: the message adds where the name came from when that
 * was $ISOREG_SEGMENT. Anything else is a runtime error. Call right after
 * the failing iso_ call (it reads iso_last_error()).
 *
 * Returns CLI_EXIT_USAGE or CLI_EXIT_RUNTIME.
 */
int cli_segment_error(const char *prog, const char *verb, const char *arg,
		      int rc);

/**
 * cli_parse_owner - parse an owner for --owner / ISOREG_OWNER: a user name
 * ("isoreg") or a numeric uid ("1001").
 * @what: how to name the value in an error ("--owner", "ISOREG_OWNER").
 *
 * Returns 0, or -1 after printing an error naming @what and the text.
 */
int cli_parse_owner(const char *prog, const char *what, const char *text,
		    uid_t *uid);

/**
 * cli_trust_opts - fill @opts with whom the user told the tools to trust
 * [R7]: ISOREG_OWNER (set it, or pass --owner, to attach a segment that
 * belongs to another uid, e.g. a fleet's service uid) and ISOREG_MODE (the
 * most permissive mode to accept, e.g. 0660 to accept a group-writable
 * segment; also the mode a create uses when no --mode is given).
 * An owner equal to the caller's euid is the default and is left out, so
 * that a create (which makes an object of the caller's own) still works.
 *
 * Returns 0, or -1 after printing which variable held what.
 */
int cli_trust_opts(const char *prog, struct iso_attach_opts *opts);

/**
 * tool_attach - attach the segment named by --segment or ISOREG_SEGMENT,
 * trusting whom ISOREG_OWNER / ISOREG_MODE say (cli_trust_opts).
 * @prog: for error messages.
 * @segment: the --segment argument, or NULL.
 * @flags: ISO_ATTACH_* (ISO_ATTACH_RDONLY for viewers).
 * @reg: (output) the attachment.
 *
 * Prints a message naming the segment and the reason on failure.
 * Returns CLI_EXIT_OK, CLI_EXIT_USAGE for a malformed name (see
 * cli_segment_error), or CLI_EXIT_RUNTIME after printing the error.
 */
int tool_attach(const char *prog, const char *segment, unsigned flags,
		iso_reg_t **reg);

/**
 * cli_parse_u64 - parse a whole decimal unsigned number in [@min, @max].
 * @what: how to name the value in an error ("--capacity").
 *
 * Rejects signs, empty strings, trailing text and overflow. Returns 0, or
 * -1 after printing an error naming @what and the text.
 */
int cli_parse_u64(const char *prog, const char *what, const char *text,
		  uint64_t min, uint64_t max, uint64_t *out);

/** cli_parse_u32 - cli_parse_u64 into a uint32_t. */
int cli_parse_u32(const char *prog, const char *what, const char *text,
		  uint32_t min, uint32_t max, uint32_t *out);

/**
 * cli_parse_double - parse a finite number >= @min (e.g. "--op-ms 1.5").
 * Returns 0, or -1 after printing an error naming @what.
 */
int cli_parse_double(const char *prog, const char *what, const char *text,
		     double min, double *out);

/**
 * cli_parse_mode - parse an octal file mode ("0660", "660") of at most 0777.
 * Returns 0, or -1 after printing an error.
 */
int cli_parse_mode(const char *prog, const char *text, unsigned *out);

/**
 * cli_parse_key - parse "type/id/BROKER" with iso_key_parse.
 * Returns 0, or -1 after printing the library's message (which names the
 * offending field).
 */
int cli_parse_key(const char *prog, const char *text, struct iso_key *key);

/**
 * cli_parse_since - parse a point in time for --since into Unix ms:
 *   - a Unix time in ms, digits only ("1764494476123");
 *   - an ISO-8601 UTC time "2026-11-30T09:11:16Z", with optional
 *     fractional seconds (".123"), 'T' or one space between date and time,
 *     and the final 'Z' optional (the time is UTC either way); or a date
 *     alone, "2026-11-30" (its midnight, UTC);
 *   - a time ago: a whole number and a unit, s, m, h or d ("10m", "2h"),
 *     counted back from @now_ms.
 * @what: how to name the value in an error ("--since").
 *
 * Returns 0, or -1 after printing an error naming @what and the text and
 * listing the accepted forms.
 */
int cli_parse_since(const char *prog, const char *what, const char *text,
		    int64_t now_ms, int64_t *out);

/* Room for any key escaped by cli_key_escape: 4 bytes per raw byte. */
#define CLI_KEY_ESC_MAX ((ISO_TYPE_MAX + ISO_ID_MAX + ISO_BROKER_MAX) * 4 + 3)

/**
 * cli_escape - copy at most @max bytes of @s (up to its NUL) into @buf for
 * a terminal: every byte outside printable ASCII (0x21..0x7e) becomes
 * "\xHH", so bytes read from a hostile segment never reach the terminal
 * raw [R7]. Always NUL-terminates @buf (cut short if @len is too small).
 *
 * Returns true if nothing needed escaping (an empty @s counts as clean).
 */
bool cli_escape(const char *s, size_t max, char *buf, size_t len);

/**
 * cli_key_escape - "type/id/BROKER" like iso_key_format, each field passed
 * through cli_escape; CLI_KEY_ESC_MAX + 1 bytes are always enough.
 *
 * Returns true if the key is printable as is; false means the slot holds
 * bytes no valid key has, and the caller must flag it as corrupt.
 */
bool cli_key_escape(const struct iso_key *key, char *buf, size_t len);

/**
 * cli_now_unix_ms - wall-clock time in Unix ms (for "how long ago").
 */
int64_t cli_now_unix_ms(void);

#endif /* ISO_TOOLS_CLI_H */
