/*
 * TFTP load generator for bench/tftp: C concurrent read transfers of one file
 * from one server, each from its own UDP port (as firmware does), with
 * blksize / windowsize (RFC 7440) / tsize options, checking every byte
 * against a local copy. Written in C so that the generator, not the server,
 * is the smaller share of a 2-core machine.
 *
 * Bounded: measures until `total` transfers have finished or `max_seconds`
 * have passed, whichever comes first; then starts no new transfer and gives
 * the running ones up to DRAIN_SECONDS to end (uncounted; any still running
 * are ended with an ERROR to the server), and reports one JSON line.
 *
 * usage: loadgen HOST PORT REMOTE_NAME LOCAL_COPY CONCURRENCY TOTAL MAX_SECONDS BLKSIZE WINDOWSIZE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MS 1000
#define MAX_TRIES 5
/* After the measured interval, running transfers are allowed this long to end
   (not counted), so no server is left holding abandoned sessions. */
#define DRAIN_SECONDS 15

struct slot {
  int fd;
  int active;
  uint16_t server_port; /* 0 until the first reply: the server's TID */
  size_t blksize, window;
  uint64_t next;         /* next absolute block expected */
  uint64_t in_window;    /* blocks received since the last ACK */
  size_t got;            /* bytes received */
  double started, deadline;
  int tries;
  uint8_t last_sent[600];
  size_t last_sent_len;
  int last_sent_to_tid;  /* 0 = to the request port */
  int bad;
};

static struct sockaddr_in server;
static const char *remote;
static const uint8_t *expect;
static size_t expect_len;
static size_t want_blksize, want_window;
static double *durations;
static long n_durations, cap_durations;
static long done_ok, done_fail, started_count, total, corrupt, retries_sent;
static int epfd;
static long errors_printed;
static double bytes_total; /* every in-order byte received, finished transfers or not */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void send_last(struct slot *s) {
  struct sockaddr_in to = server;
  if (s->last_sent_to_tid) to.sin_port = htons(s->server_port);
  sendto(s->fd, s->last_sent, s->last_sent_len, 0, (struct sockaddr *)&to, sizeof to);
}

static void send_ack(struct slot *s, uint16_t block) {
  s->last_sent[0] = 0; s->last_sent[1] = 4;
  s->last_sent[2] = block >> 8; s->last_sent[3] = block & 0xff;
  s->last_sent_len = 4;
  s->last_sent_to_tid = 1;
  s->in_window = 0;
  send_last(s);
  s->deadline = now() + RETRY_MS / 1000.0;
  s->tries = 0;
}

static size_t put(uint8_t *p, const char *str) {
  size_t n = strlen(str) + 1;
  memcpy(p, str, n);
  return n;
}

static void start(struct slot *s) {
  s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (s->fd < 0) { perror("socket"); exit(2); }
  struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr = server.sin_addr, .sin_port = 0 };
  if (bind(s->fd, (struct sockaddr *)&me, sizeof me) < 0) { perror("bind"); exit(2); }
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
  epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
  s->active = 1;
  s->server_port = 0;
  s->blksize = 512;
  s->window = 1;
  s->next = 1;
  s->in_window = 0;
  s->got = 0;
  s->bad = 0;
  s->started = now();
  s->tries = 0;
  uint8_t *p = s->last_sent;
  p[0] = 0; p[1] = 1;
  size_t n = 2;
  char num[32];
  n += put(p + n, remote);
  n += put(p + n, "octet");
  n += put(p + n, "tsize"); n += put(p + n, "0");
  if (want_blksize != 512) { snprintf(num, sizeof num, "%zu", want_blksize); n += put(p + n, "blksize"); n += put(p + n, num); }
  if (want_window > 1) { snprintf(num, sizeof num, "%zu", want_window); n += put(p + n, "windowsize"); n += put(p + n, num); }
  s->last_sent_len = n;
  s->last_sent_to_tid = 0;
  send_last(s);
  s->deadline = now() + RETRY_MS / 1000.0;
  started_count++;
}

static void finish(struct slot *s, int ok) {
  epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
  close(s->fd);
  s->active = 0;
  if (ok) {
    done_ok++;
    if (n_durations == cap_durations) {
      cap_durations = cap_durations ? cap_durations * 2 : 4096;
      durations = realloc(durations, cap_durations * sizeof *durations);
    }
    durations[n_durations++] = now() - s->started;
  } else {
    done_fail++;
  }
}

static void on_packet(struct slot *s, const uint8_t *b, ssize_t n, uint16_t from_port) {
  if (n < 4) return;
  if (s->server_port == 0) s->server_port = from_port;
  else if (from_port != s->server_port) return;
  uint16_t op = (b[0] << 8) | b[1];
  if (op == 6) { /* OACK */
    if (s->next != 1 || s->got != 0) return;
    const uint8_t *p = b + 2, *end = b + n;
    while (p < end) {
      const uint8_t *k = p; p = memchr(p, 0, end - p); if (!p) break; p++;
      const uint8_t *v = p; p = memchr(p, 0, end - p); if (!p) break; p++;
      if (!strcasecmp((const char *)k, "blksize")) s->blksize = strtoul((const char *)v, NULL, 10);
      else if (!strcasecmp((const char *)k, "windowsize")) s->window = strtoul((const char *)v, NULL, 10);
    }
    send_ack(s, 0);
    return;
  }
  if (op == 5) { if (++errors_printed <= 5) fprintf(stderr, "loadgen: server error %u: %.*s\n", (b[2] << 8) | b[3], (int)(n - 4), b + 4); finish(s, 0); return; }
  if (op != 3) return;
  uint16_t block = (b[2] << 8) | b[3];
  if (block != (uint16_t)s->next) {
    /* A gap or a duplicate: RFC 7440 says ACK the last block received in order. */
    if (s->window > 1 && s->in_window > 0) send_ack(s, (uint16_t)(s->next - 1));
    return;
  }
  size_t len = n - 4;
  size_t off = (s->next - 1) * s->blksize;
  if (off + len > expect_len || memcmp(expect + off, b + 4, len) != 0) s->bad = 1;
  s->got = off + len;
  bytes_total += len;
  s->next++;
  s->in_window++;
  int last = len < s->blksize;
  if (last || s->in_window >= s->window) send_ack(s, block);
  else s->deadline = now() + RETRY_MS / 1000.0;
  if (last) {
    if (s->bad || s->got != expect_len) corrupt++;
    finish(s, !(s->bad || s->got != expect_len));
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 10) {
    fprintf(stderr, "usage: %s HOST PORT REMOTE_NAME LOCAL_COPY CONCURRENCY TOTAL MAX_SECONDS BLKSIZE WINDOWSIZE\n", argv[0]);
    return 2;
  }
  server.sin_family = AF_INET;
  if (inet_pton(AF_INET, argv[1], &server.sin_addr) != 1) { fprintf(stderr, "bad host %s\n", argv[1]); return 2; }
  server.sin_port = htons(atoi(argv[2]));
  remote = argv[3];
  int lf = open(argv[4], O_RDONLY);
  struct stat st;
  if (lf < 0 || fstat(lf, &st) < 0) { perror(argv[4]); return 2; }
  expect_len = st.st_size;
  expect = expect_len ? mmap(NULL, expect_len, PROT_READ, MAP_PRIVATE, lf, 0) : (const uint8_t *)"";
  int conc = atoi(argv[5]);
  total = atol(argv[6]);
  double max_seconds = atof(argv[7]);
  want_blksize = atoi(argv[8]);
  want_window = atoi(argv[9]);
  if (conc < 1 || conc > 4096 || total < 1 || max_seconds <= 0 || want_blksize < 8 || want_blksize > 65464 || want_window < 1) {
    fprintf(stderr, "loadgen: bad arguments\n");
    return 2;
  }

  epfd = epoll_create1(0);
  struct slot *slots = calloc(conc, sizeof *slots);
  double t0 = now(), stop_at = t0 + max_seconds;
  for (int i = 0; i < conc && started_count < total; i++) start(&slots[i]);
  uint8_t buf[65536 + 4];
  struct epoll_event evs[256];
  int active = conc < total ? conc : (int)total;
  double elapsed = -1;
  long m_ok = 0, m_fail = 0, m_corrupt = 0, m_retries = 0, m_n = 0;
  double m_bytes = 0;
  while (active > 0) {
    double t = now();
    if (t >= stop_at && elapsed < 0) {
      elapsed = t - t0;
      m_ok = done_ok; m_fail = done_fail; m_corrupt = corrupt; m_retries = retries_sent; m_n = n_durations; m_bytes = bytes_total;
    }
    if (t >= stop_at + DRAIN_SECONDS) break;
    int n = epoll_wait(epfd, evs, 256, 50);
    for (int i = 0; i < n; i++) {
      struct slot *s = evs[i].data.ptr;
      for (;;) {
        if (!s->active) break;
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t r = recvfrom(s->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
        if (r < 0) break;
        on_packet(s, buf, r, ntohs(from.sin_port));
      }
      if (!s->active) {
        if (started_count < total && now() < stop_at) start(s);
        else active--;
      }
    }
    t = now();
    for (int i = 0; i < conc; i++) {
      struct slot *s = &slots[i];
      if (!s->active || t < s->deadline) continue;
      if (++s->tries > MAX_TRIES) {
        finish(s, 0);
        if (started_count < total && t < stop_at) start(s);
        else active--;
        continue;
      }
      retries_sent++;
      send_last(s);
      s->deadline = t + RETRY_MS / 1000.0;
    }
  }
  if (elapsed < 0) {
    elapsed = now() - t0;
    m_ok = done_ok; m_fail = done_fail; m_corrupt = corrupt; m_retries = retries_sent; m_n = n_durations; m_bytes = bytes_total;
  }
  long unfinished = 0;
  /* Abandoned transfers are ended politely (error 0 to the server's TID), so
     the server does not spend the next run retransmitting into the void. */
  static const uint8_t bye[] = { 0, 5, 0, 0, 'b', 'e', 'n', 'c', 'h', ' ', 'o', 'v', 'e', 'r', 0 };
  for (int i = 0; i < conc; i++) {
    struct slot *s = &slots[i];
    if (!s->active) continue;
    unfinished++;
    if (s->server_port) {
      struct sockaddr_in to = server;
      to.sin_port = htons(s->server_port);
      sendto(s->fd, bye, sizeof bye, 0, (struct sockaddr *)&to, sizeof to);
    }
    close(s->fd);
  }
  /* Only what ended within the measured interval counts (durations are in completion order). */
  long drained = done_ok - m_ok;
  qsort(durations, m_n, sizeof *durations, cmp_double);
  double p50 = m_n ? durations[(long)(0.50 * (m_n - 1))] : 0;
  double p99 = m_n ? durations[(long)(0.99 * (m_n - 1))] : 0;
  double mx = m_n ? durations[m_n - 1] : 0;
  printf("{\"ok\":%ld,\"failed\":%ld,\"corrupt\":%ld,\"unfinished\":%ld,\"drained\":%ld,\"retries\":%ld,\"seconds\":%.4f,"
         "\"transfersPerSec\":%.1f,\"MBps\":%.2f,\"goodputMBps\":%.2f,\"p50ms\":%.3f,\"p99ms\":%.3f,\"maxms\":%.3f}\n",
         m_ok, m_fail, m_corrupt, unfinished, drained, m_retries, elapsed, m_ok / elapsed,
         m_ok * (double)expect_len / elapsed / 1e6, m_bytes / elapsed / 1e6, p50 * 1e3, p99 * 1e3, mx * 1e3);
  return 0;
}
