/*
 * doctor.h - `scimgate doctor`: checks a deployment the way a new operator
 * would want it checked, and says in plain words what is wrong and what to do.
 *
 * It reads the same settings as `serve` (environment, then flags), then checks
 * the database (reachable, server version, migrations, admin keys,
 * organizations and tokens), the public URL, the TLS files, and whether each
 * webhook endpoint answers a TCP connect (and, for https, a verified TLS
 * handshake). Each check prints one line starting with "ok", "warn" or "FAIL".
 * Blocking calls throughout: it is a command, not part of the event loop.
 */
#ifndef SCIMGATE_DOCTOR_H
#define SCIMGATE_DOCTOR_H

/* argv[1] is "doctor"; settings flags follow. Returns the exit status: 0 when
 * no check failed (warnings allowed), 1 otherwise. */
int doctor_main(int argc, char **argv);

#endif
