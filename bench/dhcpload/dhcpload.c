/*
 * dhcpload: a closed-loop DHCPv4 load generator acting as a relay agent (bench.hook, issue 14.3).
 *
 * N simulated clients each run DISCOVER -> OFFER -> REQUEST -> ACK, and start their next exchange (a new
 * chaddr) as soon as the last one ends: there are never more than N exchanges outstanding, so a server past
 * its capacity is measured at its capacity instead of being flooded past its queues (an open-loop generator
 * offered more than the server completes measures the collapse). Replies arrive on UDP 67 of --local, the
 * giaddr of every request. Batched syscalls (sendmmsg/recvmmsg) keep the generator's own cost per packet
 * low, so that on a two-core machine the server's core saturates before the generator's.
 *
 * --option CODE,HEX adds an option to every request (Pi 4 option 97, a fixed option 82); --vary82 HEX gives
 * each exchange its own option 82: circuit-id "c<exchange number>" and remote-id HEX (what perfdhcp cannot do).
 * Prints one JSON object: exchanges completed in the measured window (after --warmup) and in the whole run,
 * DORA/s, timed-out exchanges, NAKs, DISCOVER->OFFER and REQUEST->ACK latency percentiles (ms) and how many ACKs carried 224.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 4096
#define MAX_OPTIONS 8
#define BATCH 64
#define PKT_MAX 1500
#define IDX_BITS 12

enum { IDLE, WAIT_OFFER, WAIT_ACK };

struct client {
    int state;
    uint32_t xid;
    uint32_t gen;
    uint32_t serial;  /* exchange number: the chaddr and the varied circuit-id */
    double sent;      /* when the last request left, s */
    uint32_t yiaddr;
    uint32_t server_id;
};

struct opt {
    uint8_t code;
    uint8_t len;
    uint8_t data[255];
};

struct config {
    struct in_addr server, local;
    int clients;
    double duration, warmup, timeout;
    struct opt opts[MAX_OPTIONS];
    int nopts;
    int vary82;
    struct opt remote;  /* --vary82: the remote-id sub-option's value */
    uint8_t mac_prefix;
    int port;
};

struct samples {
    double *v;
    size_t n, cap;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "dhcpload: %s\n", what);
    exit(2);
}

static void sample(struct samples *s, double ms) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        double *v = realloc(s->v, cap * sizeof(double));
        if (!v) {
            die("out of memory");
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = ms;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(struct samples *s, double q) {
    if (s->n == 0) {
        return -1.0;
    }
    size_t k = (size_t)(q * (double)(s->n - 1) + 0.5);
    return s->v[k < s->n ? k : s->n - 1];
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void parse_hex(const char *hex, struct opt *o) {
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > 255) {
        die("option data must be an even number of hex digits, at most 255 bytes");
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            die("option data is not hex");
        }
        o->data[i] = (uint8_t)(hi << 4 | lo);
    }
    o->len = (uint8_t)(n / 2);
}

static void parse_option(const char *arg, struct config *cfg) {
    char *end = NULL;
    long code = strtol(arg, &end, 10);
    if (!end || *end != ',' || code < 1 || code > 254) {
        die("--option wants CODE,HEX with CODE in 1..254");
    }
    if (cfg->nopts == MAX_OPTIONS) {
        die("too many --option");
    }
    struct opt *o = &cfg->opts[cfg->nopts++];
    o->code = (uint8_t)code;
    parse_hex(end + 1, o);
}

static double number(const char *arg, const char *name) {
    char *end = NULL;
    double v = strtod(arg, &end);
    if (!end || *end || v < 0) {
        fprintf(stderr, "dhcpload: %s wants a number >= 0\n", name);
        exit(2);
    }
    return v;
}

static void usage(void) {
    fprintf(stderr,
            "usage: dhcpload --server IP --local IP [--clients N] [--duration S] [--warmup S] [--timeout S]\n"
            "                [--option CODE,HEX]... [--vary82 REMOTE_ID_HEX] [--mac-prefix N] [--port N]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, struct config *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->clients = 64;
    cfg->duration = 5.0;
    cfg->warmup = 0.5;
    cfg->timeout = 1.0;
    cfg->port = 67;
    int have_server = 0, have_local = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            usage();
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--server")) {
            have_server = inet_aton(v, &cfg->server);
        } else if (!strcmp(a, "--local")) {
            have_local = inet_aton(v, &cfg->local);
        } else if (!strcmp(a, "--clients")) {
            cfg->clients = (int)number(v, a);
        } else if (!strcmp(a, "--duration")) {
            cfg->duration = number(v, a);
        } else if (!strcmp(a, "--warmup")) {
            cfg->warmup = number(v, a);
        } else if (!strcmp(a, "--timeout")) {
            cfg->timeout = number(v, a);
        } else if (!strcmp(a, "--option")) {
            parse_option(v, cfg);
        } else if (!strcmp(a, "--vary82")) {
            cfg->vary82 = 1;
            parse_hex(v, &cfg->remote);
        } else if (!strcmp(a, "--mac-prefix")) {
            cfg->mac_prefix = (uint8_t)number(v, a);
        } else if (!strcmp(a, "--port")) {
            cfg->port = (int)number(v, a);
        } else {
            usage();
        }
    }
    if (!have_server || !have_local) {
        die("--server and --local are required IPv4 addresses");
    }
    if (cfg->clients < 1 || cfg->clients > MAX_CLIENTS) {
        die("--clients must be in 1..4096");
    }
    if (cfg->duration <= cfg->warmup || cfg->timeout <= 0) {
        die("--duration must exceed --warmup, --timeout must be > 0");
    }
    /* a REQUEST: the fixed header, 53, 50, 54, the given options, the varied 82 ("c" + 10 digits), 255 */
    size_t size = 240 + 3 + 6 + 6 + 1;
    for (int i = 0; i < cfg->nopts; i++) {
        size += 2 + (size_t)cfg->opts[i].len;
    }
    if (cfg->vary82) {
        if (cfg->remote.len > 255 - (2 + 11 + 2)) {
            die("--vary82: the remote-id leaves no room for the circuit-id in option 82");
        }
        size += 2 + 2 + 11 + 2 + (size_t)cfg->remote.len;
    }
    if (size > PKT_MAX) {
        die("the options do not fit in one packet");
    }
}

static uint8_t *put_opt(uint8_t *p, uint8_t code, uint8_t len, const uint8_t *data) {
    *p++ = code;
    *p++ = len;
    memcpy(p, data, len);
    return p + len;
}

/* A relayed DISCOVER (type 1) or REQUEST (type 3) for client c; returns its length. */
static size_t build(const struct config *cfg, const struct client *c, uint8_t type, uint8_t *buf) {
    memset(buf, 0, 300);
    buf[0] = 1;  /* BOOTREQUEST */
    buf[1] = 1;  /* Ethernet */
    buf[2] = 6;
    buf[3] = 1;  /* hops: relayed */
    uint32_t xid = htonl(c->xid);
    memcpy(buf + 4, &xid, 4);
    memcpy(buf + 24, &cfg->local.s_addr, 4);  /* giaddr */
    uint8_t *mac = buf + 28;
    mac[0] = 0x02;
    mac[1] = cfg->mac_prefix;
    uint32_t serial = htonl(c->serial);
    memcpy(mac + 2, &serial, 4);
    static const uint8_t magic[4] = {99, 130, 83, 99};
    memcpy(buf + 236, magic, 4);
    uint8_t *p = buf + 240;
    p = put_opt(p, 53, 1, &type);
    if (type == 3) {
        p = put_opt(p, 50, 4, (const uint8_t *)&c->yiaddr);
        p = put_opt(p, 54, 4, (const uint8_t *)&c->server_id);
    }
    for (int i = 0; i < cfg->nopts; i++) {
        p = put_opt(p, cfg->opts[i].code, cfg->opts[i].len, cfg->opts[i].data);
    }
    if (cfg->vary82) {  /* last, as a relay appends it */
        char circuit[16];
        int n = snprintf(circuit, sizeof(circuit), "c%u", c->serial);
        *p++ = 82;
        *p++ = (uint8_t)(2 + n + 2 + cfg->remote.len);
        p = put_opt(p, 1, (uint8_t)n, (const uint8_t *)circuit);
        p = put_opt(p, 2, cfg->remote.len, cfg->remote.data);
    }
    *p++ = 255;
    size_t len = (size_t)(p - buf);
    return len < 300 ? 300 : len;
}

struct reply {
    uint32_t xid, yiaddr, server_id;
    int type;
    int has224;
};

static int parse_reply(const uint8_t *b, size_t n, struct reply *r) {
    static const uint8_t magic[4] = {99, 130, 83, 99};
    if (n < 240 || b[0] != 2 || memcmp(b + 236, magic, 4) != 0) {
        return 0;
    }
    memset(r, 0, sizeof(*r));
    uint32_t xid;
    memcpy(&xid, b + 4, 4);
    r->xid = ntohl(xid);
    memcpy(&r->yiaddr, b + 16, 4);
    size_t i = 240;
    while (i < n) {
        uint8_t code = b[i];
        if (code == 0) {
            i++;
            continue;
        }
        if (code == 255 || i + 1 >= n) {
            break;
        }
        uint8_t len = b[i + 1];
        if (i + 2 + len > n) {
            return 0;
        }
        const uint8_t *d = b + i + 2;
        if (code == 53 && len == 1) {
            r->type = d[0];
        } else if (code == 54 && len == 4) {
            memcpy(&r->server_id, d, 4);
        } else if (code == 224) {
            r->has224 = 1;
        }
        i += 2 + (size_t)len;
    }
    return r->type != 0;
}

struct outbox {
    int fd;
    struct sockaddr_in *server;
    struct mmsghdr msg[BATCH];
    struct iovec iov[BATCH];
    uint8_t buf[BATCH][PKT_MAX];
    int n;
    long sent;
};

static void flush_out(struct outbox *o) {
    int off = 0;
    while (off < o->n) {
        int r = sendmmsg(o->fd, o->msg + off, (unsigned)(o->n - off), 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) {
                continue;
            }
            perror("dhcpload: sendmmsg");
            exit(2);
        }
        off += r;
    }
    o->sent += o->n;
    o->n = 0;
}

/* Queue client c's next request (sent by the next flush, or now when the batch is full). */
static void queue(struct outbox *o, const struct config *cfg, struct client *c, uint8_t type, double t) {
    int k = o->n;
    o->iov[k].iov_base = o->buf[k];
    o->iov[k].iov_len = build(cfg, c, type, o->buf[k]);
    memset(&o->msg[k], 0, sizeof(o->msg[k]));
    o->msg[k].msg_hdr.msg_name = o->server;
    o->msg[k].msg_hdr.msg_namelen = sizeof(*o->server);
    o->msg[k].msg_hdr.msg_iov = &o->iov[k];
    o->msg[k].msg_hdr.msg_iovlen = 1;
    c->sent = t;
    if (++o->n == BATCH) {
        flush_out(o);
    }
}

int main(int argc, char **argv) {
    struct config cfg;
    parse_args(argc, argv, &cfg);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        die("socket");
    }
    int one = 1, buf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port),
                                .sin_addr = cfg.local};
    if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
        perror("dhcpload: bind");
        return 2;
    }
    struct sockaddr_in server = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port),
                                 .sin_addr = cfg.server};

    struct client *clients = calloc((size_t)cfg.clients, sizeof(struct client));
    static uint8_t in[BATCH][PKT_MAX];
    static struct outbox box;
    struct mmsghdr imsg[BATCH];
    struct iovec iiov[BATCH];
    struct samples offer_ms = {0}, ack_ms = {0};
    if (!clients) {
        die("out of memory");
    }
    for (int i = 0; i < BATCH; i++) {
        iiov[i].iov_base = in[i];
        iiov[i].iov_len = PKT_MAX;
        memset(&imsg[i], 0, sizeof(imsg[i]));
        imsg[i].msg_hdr.msg_iov = &iiov[i];
        imsg[i].msg_hdr.msg_iovlen = 1;
    }
    uint32_t next_serial = 1;
    long done = 0, all_done = 0, timeouts = 0, naks = 0, with224 = 0;
    box.fd = fd;
    box.server = &server;
    const double start = now_s(), measure_from = start + cfg.warmup, end = start + cfg.duration;
    double last_scan = start;

    for (;;) {
        double t = now_s();
        if (t >= end) {
            break;
        }
        for (int i = 0; i < cfg.clients; i++) {
            struct client *c = &clients[i];
            if (c->state == IDLE) {
                c->gen++;
                c->xid = (c->gen << IDX_BITS) | (uint32_t)i;
                c->serial = next_serial++;
                c->state = WAIT_OFFER;
                queue(&box, &cfg, c, 1, t);
            }
        }
        flush_out(&box);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, 1);
        int got = recvmmsg(fd, imsg, BATCH, MSG_DONTWAIT, NULL);
        t = now_s();
        for (int k = 0; k < got; k++) {
            struct reply r;
            if (!parse_reply(in[k], imsg[k].msg_len, &r)) {
                continue;
            }
            uint32_t idx = r.xid & ((1u << IDX_BITS) - 1);
            if (idx >= (uint32_t)cfg.clients) {
                continue;
            }
            struct client *c = &clients[idx];
            if (c->xid != r.xid) {
                continue;  /* a late reply to an exchange that timed out */
            }
            if (r.type == 2 && c->state == WAIT_OFFER) {
                if (t >= measure_from) {
                    sample(&offer_ms, (t - c->sent) * 1000.0);
                }
                c->yiaddr = r.yiaddr;
                c->server_id = r.server_id ? r.server_id : cfg.server.s_addr;
                c->state = WAIT_ACK;
                queue(&box, &cfg, c, 3, t);
            } else if (r.type == 5 && c->state == WAIT_ACK) {
                all_done++;
                if (t >= measure_from) {
                    sample(&ack_ms, (t - c->sent) * 1000.0);
                    done++;
                    with224 += r.has224;
                }
                c->state = IDLE;
            } else if (r.type == 6 && c->state == WAIT_ACK) {
                naks += t >= measure_from;
                c->state = IDLE;
            }
        }
        flush_out(&box);
        if (t - last_scan >= 0.01) {
            last_scan = t;
            for (int i = 0; i < cfg.clients; i++) {
                if (clients[i].state != IDLE && t - clients[i].sent > cfg.timeout) {
                    timeouts += t >= measure_from;
                    clients[i].state = IDLE;
                }
            }
        }
    }
    const double window = end - measure_from;
    qsort(offer_ms.v, offer_ms.n, sizeof(double), cmp_double);
    qsort(ack_ms.v, ack_ms.n, sizeof(double), cmp_double);
    printf("{\"clients\": %d, \"window_s\": %.3f, \"exchanges\": %ld, \"rate\": %.1f, \"timeouts\": %ld, "
           "\"naks\": %ld, \"sent\": %ld, \"offer_p50\": %.3f, \"offer_p99\": %.3f, \"ack_p50\": %.3f, "
           "\"ack_p99\": %.3f, \"acks_with_224\": %ld, \"all_exchanges\": %ld}\n",
           cfg.clients, window, done, (double)done / window, timeouts, naks, box.sent, percentile(&offer_ms, 0.5),
           percentile(&offer_ms, 0.99), percentile(&ack_ms, 0.5), percentile(&ack_ms, 0.99), with224,
           all_done);
    free(clients);
    free(offer_ms.v);
    free(ack_ms.v);
    close(fd);
    return 0;
}
