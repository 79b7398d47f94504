/*
 * cli.h - operator subcommands that need no running server and no curl:
 * `scimgate org create|list|delete` and `scimgate token issue|list|revoke`.
 * They talk to DATABASE_URL directly (blocking libpq; no event loop) and
 * print the same JSON the admin API returns.
 */
#ifndef SCIMGATE_CLI_H
#define SCIMGATE_CLI_H

/* argv[1] is "org" or "token". Returns the process exit status. */
int cli_main(int argc, char **argv);

#endif
