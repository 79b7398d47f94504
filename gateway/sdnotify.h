/*
 * sdnotify.h - the systemd notification protocol (Type=notify): datagrams
 * like "READY=1" to the socket named by $NOTIFY_SOCKET. Without that variable
 * it does nothing.
 */
#ifndef SCIMGATE_SDNOTIFY_H
#define SCIMGATE_SDNOTIFY_H

/* Sends state ("READY=1\nSTATUS=..."); errors are ignored. */
void sdnotify(const char *state);

#endif
