/*
 * receiver.c - scimgate-receiver, an example webhook endpoint: verifies the
 * Standard Webhooks signature of each POST with sign.c and prints every
 * verified event as one JSON line on stdout.
 *
 *   scimgate-receiver --secret whsec_... [--listen 127.0.0.1:9000]
 *                     [--fail-first N] [--delay-ms N] [--record FILE]
 *                     [--tolerance-s N]
 *
 * Environment: WEBHOOK_SECRET, RECEIVER_LISTEN (flags win).
 * Answers: 204 verified; 400 missing or malformed webhook headers, or a body
 * that is not JSON; 401 signature mismatch or stale timestamp; 500 for the
 * first --fail-first verified deliveries (not printed, not recorded, so a
 * sender's retry is what shows up); GET on any path answers 200 with the
 * counters (a readiness probe). --delay-ms holds every POST answer that
 * long on a timer (the loop keeps serving). --record appends each printed
 * line to FILE.
 *
 * stdout carries only events, one per line, flushed. Diagnostics are JSON
 * lines on stderr: the bound address on start ({"msg":"listening",...},
 * useful with port 0), one line per rejection, and the counters on SIGTERM
 * or SIGINT, after which it exits 0 having freed everything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "log.h"
#include "sign.h"
#include "util.h"

#define DEFAULT_LISTEN "127.0.0.1:9000"
#define MAX_BODY (1 << 20)
#define MAX_HEADERS (64 << 10)
#define IO_TIMEOUT_S 60
#define DRAIN_MS 200 /* after a signal, time left to write the last answers */

struct options {
    const char *listen;  /* "host:port" (borrowed from argv or environ) */
    const char *secret;  /* whsec_... (borrowed) */
    const char *record;  /* file to append verified events to, or NULL */
    long long fail_first; /* verified deliveries to answer 500 */
    long long delay_ms;  /* delay before every POST answer */
    long long tolerance_s; /* accepted clock distance of webhook-timestamp */
};

struct pending;

struct receiver {
    struct event_base *base;    /* owned */
    struct evhttp *http;        /* owned */
    struct event *sig_term;     /* owned */
    struct event *sig_int;      /* owned */
    struct sign_key *key;       /* owned */
    FILE *record;               /* owned, or NULL */
    struct options opt;         /* parsed command line */
    struct pending *pending;    /* answers waiting for --delay-ms, owned */
    unsigned long long verified; /* deliveries verified (incl. those failed on purpose) */
    unsigned long long printed; /* events printed (answered 204) */
    unsigned long long rejected; /* answered 400 or 401 */
    unsigned long long failed;  /* answered 500 because of --fail-first */
};

/* An answer held back by --delay-ms. */
struct pending {
    struct pending *next;        /* list in struct receiver */
    struct receiver *rx;         /* borrowed */
    struct evhttp_request *req;  /* owned by libevent until answered */
    struct event *timer;         /* owned */
    int status;                  /* HTTP status to send */
    char *body;                  /* JSON body to send, or NULL; owned */
};

static void usage(FILE *out);
static bool parse_options(int argc, char **argv, struct options *o);
static bool split_listen(const char *listen, char **host, uint16_t *port);
static bool receiver_open(struct receiver *rx);
static void receiver_close(struct receiver *rx);
static void on_request(struct evhttp_request *req, void *arg);
static void on_signal(evutil_socket_t fd, short what, void *arg);
static void on_delay(evutil_socket_t fd, short what, void *arg);
static void send_pending(struct receiver *rx);

/* ------------------------------------------------------------ command line */

static void usage(FILE *out)
{
    fputs("usage: scimgate-receiver --secret whsec_... [--listen HOST:PORT]\n"
          "       [--fail-first N] [--delay-ms N] [--record FILE] [--tolerance-s N]\n"
          "environment: WEBHOOK_SECRET, RECEIVER_LISTEN (default " DEFAULT_LISTEN ")\n",
          out);
}

static bool parse_count(const char *name, const char *s, long long max, long long *out)
{
    if (util_parse_int(s, 0, max, out))
        return true;
    fprintf(stderr, "scimgate-receiver: --%s wants an integer in 0..%lld\n", name, max);
    return false;
}

static bool parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},     {"secret", required_argument, NULL, 's'},
        {"fail-first", required_argument, NULL, 'f'}, {"delay-ms", required_argument, NULL, 'd'},
        {"record", required_argument, NULL, 'r'},     {"tolerance-s", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    *o = (struct options){.listen = getenv("RECEIVER_LISTEN"),
                          .secret = getenv("WEBHOOK_SECRET"),
                          .tolerance_s = SIGN_TOLERANCE_DEFAULT_S};
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'l': o->listen = optarg; break;
        case 's': o->secret = optarg; break;
        case 'r': o->record = optarg; break;
        case 'f': ok = parse_count("fail-first", optarg, 1000000000, &o->fail_first); break;
        case 'd': ok = parse_count("delay-ms", optarg, 3600000, &o->delay_ms); break;
        case 't': ok = parse_count("tolerance-s", optarg, 86400 * 365, &o->tolerance_s); break;
        case 'h': usage(stdout); exit(0);
        default: ok = false;
        }
        if (!ok)
            return false;
    }
    if (optind != argc || !o->secret || !*o->secret) {
        usage(stderr);
        return false;
    }
    if (!o->listen || !*o->listen)
        o->listen = DEFAULT_LISTEN;
    return true;
}

/* "host:port" or "[v6]:port"; *host is new. */
static bool split_listen(const char *listen, char **host, uint16_t *port)
{
    const char *colon = strrchr(listen, ':');
    long long p;
    if (!colon || colon == listen || !util_parse_int(colon + 1, 0, 65535, &p))
        return false;
    const char *h = listen;
    size_t n = (size_t)(colon - listen);
    if (h[0] == '[') {
        if (n < 3 || h[n - 1] != ']')
            return false;
        h++;
        n -= 2;
    }
    *host = xstrndup(h, n);
    *port = (uint16_t)p;
    return true;
}

/* ------------------------------------------------------------------ replies */

static void send_now(struct evhttp_request *req, int status, const char *body)
{
    struct evbuffer *buf = NULL;
    if (body) {
        buf = evbuffer_new();
        evbuffer_add(buf, body, strlen(body));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
    }
    /* If the client has gone, libevent detached the request and frees it here. */
    evhttp_send_reply(req, status, NULL, buf);
    if (buf)
        evbuffer_free(buf);
}

static void pending_free(struct pending *p)
{
    event_free(p->timer);
    free(p->body);
    free(p);
}

static void pending_unlink(struct receiver *rx, struct pending *p)
{
    for (struct pending **pp = &rx->pending; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            return;
        }
    }
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    pending_unlink(p->rx, p);
    send_now(p->req, p->status, p->body);
    pending_free(p);
}

/* Answers now, or after --delay-ms on a timer: never blocks the loop. */
static void reply(struct receiver *rx, struct evhttp_request *req, int status, const char *body)
{
    if (rx->opt.delay_ms <= 0) {
        send_now(req, status, body);
        return;
    }
    struct pending *p = xcalloc(1, sizeof *p);
    p->rx = rx;
    p->req = req;
    p->status = status;
    p->body = body ? xstrdup(body) : NULL;
    p->timer = evtimer_new(rx->base, on_delay, p);
    if (!p->timer)
        util_fatal("cannot create a timer");
    struct timeval tv = {.tv_sec = (time_t)(rx->opt.delay_ms / 1000),
                         .tv_usec = (suseconds_t)(rx->opt.delay_ms % 1000 * 1000)};
    evtimer_add(p->timer, &tv);
    p->next = rx->pending;
    rx->pending = p;
}

static void reject(struct receiver *rx, struct evhttp_request *req, int status,
                   const char *why, const char *msg_id)
{
    rx->rejected++;
    log_warn("delivery rejected", LF_INT("status", status), LF_STR("reason", why),
             LF_STR("webhook_id", sign_msg_id_valid(msg_id) ? msg_id : NULL));
    struct strbuf b = {0};
    strbuf_puts(&b, "{\"error\":");
    log_json_string(&b, why);
    strbuf_putc(&b, '}');
    reply(rx, req, status, b.s);
    strbuf_clear(&b);
}

/* ----------------------------------------------------------------- handling */

/* The event as one line: the body itself when it is one line already (so a
 * recorded line can be verified again), else its compact re-encoding.
 * New string, or NULL when the body is not JSON. */
static char *event_line(const char *body, size_t len)
{
    json_error_t err;
    json_t *doc = json_loadb(body, len, 0, &err);
    if (!doc)
        return NULL;
    char *line;
    if (memchr(body, '\n', len) || memchr(body, '\r', len))
        line = json_dumps(doc, JSON_COMPACT);
    else
        line = xstrndup(body, len);
    json_decref(doc);
    return line;
}

static void emit(struct receiver *rx, const char *line)
{
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    if (rx->record) {
        fputs(line, rx->record);
        fputc('\n', rx->record);
        fflush(rx->record);
    }
}

static void handle_get(struct receiver *rx, struct evhttp_request *req)
{
    char body[200];
    snprintf(body, sizeof body,
             "{\"status\":\"ok\",\"verified\":%llu,\"printed\":%llu,\"rejected\":%llu,"
             "\"failed\":%llu}",
             rx->verified, rx->printed, rx->rejected, rx->failed);
    send_now(req, 200, body);
}

static void handle_post(struct receiver *rx, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *id = evhttp_find_header(h, "webhook-id");
    const char *ts = evhttp_find_header(h, "webhook-timestamp");
    const char *sigs = evhttp_find_header(h, "webhook-signature");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (!body)
        util_fatal("out of memory (request body)");
    enum sign_result r = sign_verify(rx->key, id, ts, sigs, body, len, (int64_t)time(NULL),
                                     rx->opt.tolerance_s);
    if (r != SIGN_OK) {
        reject(rx, req, r == SIGN_MALFORMED ? 400 : 401, sign_result_str(r), id);
        return;
    }
    char *line = event_line(body, len);
    if (!line) {
        reject(rx, req, 400, "body is not JSON", id);
        return;
    }
    if (rx->verified++ < (unsigned long long)rx->opt.fail_first) {
        rx->failed++;
        log_info("failing delivery on purpose", LF_STR("webhook_id", id),
                 LF_INT("failed", rx->failed));
        reply(rx, req, 500, "{\"error\":\"failing on purpose (--fail-first)\"}");
    } else {
        rx->printed++;
        emit(rx, line);
        reply(rx, req, 204, NULL);
    }
    free(line);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct receiver *rx = arg;
    if (evhttp_request_get_command(req) == EVHTTP_REQ_GET)
        handle_get(rx, req);
    else
        handle_post(rx, req);
}

/* Held answers go out now; the loop runs DRAIN_MS longer to write them. */
static void send_pending(struct receiver *rx)
{
    while (rx->pending) {
        struct pending *p = rx->pending;
        rx->pending = p->next;
        send_now(p->req, p->status, p->body);
        pending_free(p);
    }
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct receiver *rx = arg;
    log_info("stopping", LF_INT("signal", fd), LF_INT("verified", rx->verified),
             LF_INT("printed", rx->printed), LF_INT("rejected", rx->rejected),
             LF_INT("failed", rx->failed));
    send_pending(rx);
    struct timeval drain = {.tv_sec = 0, .tv_usec = DRAIN_MS * 1000};
    event_base_loopexit(rx->base, &drain);
}

/* ---------------------------------------------------------------- lifecycle */

static void log_bound(struct evhttp_bound_socket *bound)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char addr[INET6_ADDRSTRLEN] = "?", where[INET6_ADDRSTRLEN + 10];
    int port = 0;
    if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
            port = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, addr, sizeof addr);
            port = ntohs(s4->sin_port);
        }
    }
    snprintf(where, sizeof where, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", addr, port);
    log_info("listening", LF_STR("listen", where), LF_INT("port", port));
}

static bool receiver_listen(struct receiver *rx)
{
    char *host;
    uint16_t port;
    if (!split_listen(rx->opt.listen, &host, &port)) {
        fprintf(stderr, "scimgate-receiver: --listen wants HOST:PORT, not \"%s\"\n",
                rx->opt.listen);
        return false;
    }
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(rx->http, host, port);
    if (!bound)
        fprintf(stderr, "scimgate-receiver: cannot listen on %s: %s\n", rx->opt.listen,
                strerror(errno));
    else
        log_bound(bound);
    free(host);
    return bound != NULL;
}

static bool receiver_open(struct receiver *rx)
{
    rx->key = sign_key_new(rx->opt.secret);
    if (!rx->key) {
        fputs("scimgate-receiver: the secret must be whsec_ followed by the base64 of "
              "24 to 64 bytes\n", stderr);
        return false;
    }
    if (rx->opt.record && !(rx->record = fopen(rx->opt.record, "a"))) {
        fprintf(stderr, "scimgate-receiver: cannot open %s: %s\n", rx->opt.record,
                strerror(errno));
        return false;
    }
    rx->base = event_base_new();
    rx->http = rx->base ? evhttp_new(rx->base) : NULL;
    if (!rx->http)
        util_fatal("cannot create the event loop");
    evhttp_set_allowed_methods(rx->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(rx->http, MAX_BODY);
    evhttp_set_max_headers_size(rx->http, MAX_HEADERS);
    evhttp_set_timeout(rx->http, IO_TIMEOUT_S);
    evhttp_set_gencb(rx->http, on_request, rx);
    rx->sig_term = evsignal_new(rx->base, SIGTERM, on_signal, rx);
    rx->sig_int = evsignal_new(rx->base, SIGINT, on_signal, rx);
    if (!rx->sig_term || !rx->sig_int || evsignal_add(rx->sig_term, NULL) != 0 ||
        evsignal_add(rx->sig_int, NULL) != 0)
        util_fatal("cannot watch signals");
    return receiver_listen(rx);
}

/* Releases in reverse order. Answers still held (a delay that began during
 * the drain) are handed to libevent, which frees them with their connection. */
static void receiver_close(struct receiver *rx)
{
    send_pending(rx);
    if (rx->sig_int)
        event_free(rx->sig_int);
    if (rx->sig_term)
        event_free(rx->sig_term);
    if (rx->http)
        evhttp_free(rx->http);
    if (rx->base)
        event_base_free(rx->base);
    if (rx->record)
        fclose(rx->record);
    sign_key_free(rx->key);
}

int main(int argc, char **argv)
{
    struct receiver rx = {0};
    if (!parse_options(argc, argv, &rx.opt))
        return 2;
    signal(SIGPIPE, SIG_IGN);
    int status = 1;
    if (receiver_open(&rx) && event_base_dispatch(rx.base) == 0)
        status = 0;
    receiver_close(&rx);
    libevent_global_shutdown();
    return status;
}
