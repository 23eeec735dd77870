/*
 * HTTP load generator for bench/assets: full downloads or random byte-range
 * reads of one file from one server, checking every byte received against a
 * local copy (mmap + memcmp), so a fast wrong answer cannot win. Written in C
 * with one blocking thread per connection so that the generator, not the
 * server, is the smaller share of a 2-core machine.
 *
 * usage:
 *   loadgen full   HOST PORT PATH LOCAL_COPY CONNECTIONS
 *       each connection downloads the whole file once (GET, no Range)
 *   loadgen ranges HOST PORT PATH LOCAL_COPY CONNECTIONS TOTAL LENGTH SEED
 *       TOTAL random ranges of LENGTH bytes spread over CONNECTIONS keep-alive
 *       connections, each "Range: bytes=a-b", expecting 206 and Content-Range
 *   loadgen gen FILE MEBIBYTES SEED
 *       writes a file of pseudo-random bytes (incompressible, unlike a sparse
 *       file, whose holes the kernel serves without touching a page)
 *
 * LOADGEN_NO_VERIFY=1 skips the memcmp (to see how much of a core it costs).
 *
 * Prints one JSON line on stdout: {"requests":..,"bytes":..,"seconds":..,
 * "mb_per_s":..,"errors":..,"first_error":".."}. Exit 0 only with no errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF (1 << 20)

static const char *host, *path;
static int port;
static const unsigned char *local;
static uint64_t size;
static int ranges_mode;
static long total_ranges;
static uint64_t range_len;
static uint64_t seed;
static int verify = 1;

static atomic_long next_request;
static atomic_llong bytes_total;
static atomic_long requests_done;
static atomic_long errors;
static char first_error[512];
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  atomic_fetch_add(&errors, 1);
  pthread_mutex_lock(&err_lock);
  if (!first_error[0]) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof first_error, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&err_lock);
}

static int dial(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* A connection's receive state: bytes already read past the current header. */
struct conn {
  int fd;
  char *buf;
  size_t have; /* bytes in buf not yet consumed */
};

/* Reads one response header; returns its length (buf[0..len) holds it), -1 on error. */
static long read_header(struct conn *c) {
  for (;;) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (end) return (long)(end - c->buf) + 4;
    if (c->have == BUF) return -1;
    ssize_t r = recv(c->fd, c->buf + c->have, BUF - c->have, 0);
    if (r <= 0) return -1;
    c->have += (size_t)r;
  }
}

static const char *header_value(const char *hdr, long len, const char *name) {
  size_t n = strlen(name);
  for (const char *p = hdr; p < hdr + len;) {
    const char *eol = memmem(p, (size_t)(hdr + len - p), "\r\n", 2);
    if (!eol) break;
    if ((size_t)(eol - p) > n + 1 && strncasecmp(p, name, n) == 0 && p[n] == ':') {
      p += n + 1;
      while (*p == ' ') p++;
      return p;
    }
    p = eol + 2;
  }
  return NULL;
}

/* Receives `len` body bytes that must equal local[off..off+len). */
static int read_body(struct conn *c, long hdr_len, uint64_t off, uint64_t len) {
  memmove(c->buf, c->buf + hdr_len, c->have - (size_t)hdr_len);
  c->have -= (size_t)hdr_len;
  uint64_t got = 0;
  for (;;) {
    size_t take = c->have;
    if (take > len - got) take = (size_t)(len - got);
    if (take) {
      if (verify && memcmp(c->buf, local + off + got, take) != 0) {
        fail("body differs from the local copy near offset %" PRIu64, off + got);
        return -1;
      }
      got += take;
      atomic_fetch_add(&bytes_total, (long long)take);
      memmove(c->buf, c->buf + take, c->have - take);
      c->have -= take;
    }
    if (got == len) return 0;
    ssize_t r = recv(c->fd, c->buf + c->have, BUF - c->have, 0);
    if (r <= 0) {
      fail("connection ended after %" PRIu64 " of %" PRIu64 " body bytes", got, len);
      return -1;
    }
    c->have += (size_t)r;
  }
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void *worker(void *arg) {
  long id = (long)arg;
  struct conn c = {.fd = -1, .buf = malloc(BUF), .have = 0};
  char req[1024];
  uint64_t rng = seed * 1000003ULL + (uint64_t)id;
  for (;;) {
    uint64_t off = 0, len = size;
    if (ranges_mode) {
      long n = atomic_fetch_add(&next_request, 1);
      if (n >= total_ranges) break;
      off = splitmix(&rng) % (size - range_len + 1);
      len = range_len;
      snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: chainboot-bench\r\nRange: bytes=%" PRIu64 "-%" PRIu64 "\r\n\r\n", path, host, port, off, off + len - 1);
    } else {
      snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: chainboot-bench\r\n\r\n", path, host, port);
    }
    if (c.fd < 0) {
      c.fd = dial();
      c.have = 0;
      if (c.fd < 0) {
        fail("connect: %s", strerror(errno));
        break;
      }
    }
    if (send_all(c.fd, req, strlen(req)) < 0) {
      fail("send: %s", strerror(errno));
      break;
    }
    long hl = read_header(&c);
    if (hl < 0) {
      fail("no complete response header");
      break;
    }
    int status = atoi(c.buf + 9);
    const char *cl = header_value(c.buf, hl, "Content-Length");
    if (!cl || strtoull(cl, NULL, 10) != len) {
      fail("status %d: Content-Length %s, expected %" PRIu64, status, cl ? "differs" : "missing", len);
      break;
    }
    if (ranges_mode) {
      char want[128];
      snprintf(want, sizeof want, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off, off + len - 1, size);
      const char *cr = header_value(c.buf, hl, "Content-Range");
      if (status != 206 || !cr || strncmp(cr, want, strlen(want)) != 0) {
        fail("status %d, Content-Range %.60s; expected 206 and %s", status, cr ? cr : "(none)", want);
        break;
      }
    } else if (status != 200) {
      fail("status %d, expected 200", status);
      break;
    }
    if (read_body(&c, hl, off, len) < 0) break;
    atomic_fetch_add(&requests_done, 1);
    if (!ranges_mode) break;
  }
  if (c.fd >= 0) close(c.fd);
  free(c.buf);
  return NULL;
}

static int gen(const char *file, long mib, uint64_t s) {
  FILE *f = fopen(file, "wb");
  if (!f) {
    perror(file);
    return 2;
  }
  uint64_t *block = malloc(BUF);
  for (long i = 0; i < mib; i++) {
    for (size_t j = 0; j < BUF / sizeof *block; j++) block[j] = splitmix(&s);
    if (fwrite(block, 1, BUF, f) != BUF) {
      perror(file);
      return 2;
    }
  }
  free(block);
  return fclose(f) == 0 ? 0 : 2;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "gen")) return gen(argv[2], atol(argv[3]), strtoull(argv[4], NULL, 10));
  if (argc < 7 || (strcmp(argv[1], "full") && strcmp(argv[1], "ranges")) || (!strcmp(argv[1], "ranges") && argc < 10)) {
    fprintf(stderr, "usage: loadgen full HOST PORT PATH LOCAL_COPY CONNECTIONS\n       loadgen ranges HOST PORT PATH LOCAL_COPY CONNECTIONS TOTAL LENGTH SEED\n");
    return 2;
  }
  ranges_mode = !strcmp(argv[1], "ranges");
  if (getenv("LOADGEN_NO_VERIFY")) verify = 0;
  host = argv[2];
  port = atoi(argv[3]);
  path = argv[4];
  int conns = atoi(argv[6]);
  if (ranges_mode) {
    total_ranges = atol(argv[7]);
    range_len = strtoull(argv[8], NULL, 10);
    seed = strtoull(argv[9], NULL, 10);
  }
  int fd = open(argv[5], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    perror(argv[5]);
    return 2;
  }
  size = (uint64_t)st.st_size;
  if (ranges_mode && (range_len == 0 || range_len > size)) {
    fprintf(stderr, "range length must be 1..%" PRIu64 "\n", size);
    return 2;
  }
  local = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
  if (local == MAP_FAILED) {
    perror("mmap");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t *th = calloc((size_t)conns, sizeof *th);
  for (long i = 0; i < conns; i++) pthread_create(&th[i], NULL, worker, (void *)i);
  for (int i = 0; i < conns; i++) pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  long long b = atomic_load(&bytes_total);
  long want = ranges_mode ? total_ranges : conns;
  if (atomic_load(&requests_done) != want && !atomic_load(&errors)) fail("only %ld of %ld requests completed", atomic_load(&requests_done), want);
  for (char *p = first_error; *p; p++)
    if (*p == '"' || *p == '\\') *p = '\'';
  printf("{\"requests\":%ld,\"bytes\":%lld,\"seconds\":%.3f,\"mb_per_s\":%.1f,\"errors\":%ld,\"first_error\":\"%s\"}\n", atomic_load(&requests_done), b, secs, (double)b / 1e6 / secs, atomic_load(&errors), first_error);
  return atomic_load(&errors) ? 1 : 0;
}
