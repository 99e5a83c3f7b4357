// Kernel timestamps for UDP exchanges (Linux). A datagram's receive time is the kernel's, not the
// moment a busy or idle process got round to reading it (tens to hundreds of µs later, varying by
// host and load: NTP reads that as path asymmetry). A transmit time is taken right before the
// sendmsg() that hands the datagram to the kernel, with nothing in between that can wait.
//
// rxMonoNs(fd): CLOCK_MONOTONIC ns (process.hrtime's clock) at which the kernel received the
//   socket's most recently read datagram, or -1. The kernel stamps in CLOCK_REALTIME; the age of
//   the stamp is taken against the kernel's CLOCK_REALTIME now (a raw syscall, which an LD_PRELOAD
//   time shim such as libfaketime cannot shift) and subtracted from CLOCK_MONOTONIC read in the
//   same breath (through libc, exactly as process.hrtime reads it, shim included). An age outside
//   0..1 s (a wall-clock step in between, no stamp) gives -1.
// send(fd, buffer, address, port, stampOffset, anchorNs): sends one datagram now. With stampOffset
//   >= 0 the 64-bit NTP timestamp of CLOCK_MONOTONIC + anchorNs is written there first. Returns
//   the CLOCK_MONOTONIC ns read just before the syscall, or -errno (the caller then falls back).
#define _GNU_SOURCE
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NTP_UNIX_EPOCH_DELTA_S 2208988800LL
#define MAX_DATAGRAM 65507

static napi_value throw_type(napi_env env, const char* msg) {
  napi_throw_type_error(env, "JAS_ERR_NETSTAMP", msg);
  return NULL;
}

static napi_value number(napi_env env, double v) {
  napi_value out;
  if (napi_create_double(env, v, &out) != napi_ok) return NULL;
  return out;
}

static int get_fd(napi_env env, napi_value v, int* fd) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) return 0;
  int32_t x;
  if (napi_get_value_int32(env, v, &x) != napi_ok || x < 0) return 0;
  *fd = x;
  return 1;
}

// The single argument of enable() and rxMonoNs(); throws (returns 0) naming `usage` otherwise.
static int only_fd_arg(napi_env env, napi_callback_info info, int* fd, const char* usage) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !get_fd(env, argv[0], fd)) {
    throw_type(env, usage);
    return 0;
  }
  return 1;
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// The first SIOCGSTAMPNS switches the socket's receive timestamps on (ENOENT: nothing read yet).
static napi_value Enable(napi_env env, napi_callback_info info) {
  int fd;
  if (!only_fd_arg(env, info, &fd, "enable(fd): fd must be a non-negative integer")) return NULL;
  struct timespec ts;
  int ok = ioctl(fd, SIOCGSTAMPNS, &ts) == 0 || errno == ENOENT;
  napi_value out;
  napi_get_boolean(env, ok, &out);
  return out;
}

#define MAX_RX_AGE_NS 1000000000LL

static napi_value RxMonoNs(napi_env env, napi_callback_info info) {
  int fd;
  if (!only_fd_arg(env, info, &fd, "rxMonoNs(fd): fd must be a non-negative integer")) return NULL;
  struct timespec rx, now;
  if (ioctl(fd, SIOCGSTAMPNS, &rx) != 0 || (rx.tv_sec == 0 && rx.tv_nsec == 0)) return number(env, -1);
  if (syscall(SYS_clock_gettime, CLOCK_REALTIME, &now) != 0) return number(env, -1);
  int64_t mono = mono_ns();
  int64_t age = (int64_t)(now.tv_sec - rx.tv_sec) * 1000000000LL + (now.tv_nsec - rx.tv_nsec);
  if (age < 0 || age >= MAX_RX_AGE_NS) return number(env, -1);
  return number(env, (double)(mono - age));
}

static void write_ntp(uint8_t* p, int64_t unix_ns) {
  int64_t s = unix_ns / 1000000000LL;
  int64_t rem = unix_ns - s * 1000000000LL;
  if (rem < 0) {
    s -= 1;
    rem += 1000000000LL;
  }
  uint64_t frac = ((uint64_t)rem * 4294967296ULL + 500000000ULL) / 1000000000ULL;
  if (frac >= 4294967296ULL) {
    frac -= 4294967296ULL;
    s += 1;
  }
  uint32_t sec = (uint32_t)(s + NTP_UNIX_EPOCH_DELTA_S);
  uint32_t f = (uint32_t)frac;
  p[0] = sec >> 24; p[1] = sec >> 16; p[2] = sec >> 8; p[3] = sec;
  p[4] = f >> 24; p[5] = f >> 16; p[6] = f >> 8; p[7] = f;
}

static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  int fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || !get_fd(env, argv[0], &fd)) {
    return throw_type(env, "send(fd, buffer, address, port, stampOffset, anchorNs): fd must be a non-negative integer");
  }
  bool is_buffer = false;
  void* data = NULL;
  size_t len = 0;
  if (napi_is_buffer(env, argv[1], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || len == 0 || len > MAX_DATAGRAM) {
    return throw_type(env, "send: buffer must be a Buffer of 1..65507 bytes");
  }
  // address: null for a connected socket, else an IPv4/IPv6 literal (no scope id).
  napi_valuetype at;
  napi_typeof(env, argv[2], &at);
  struct sockaddr_storage ss;
  socklen_t sslen = 0;
  memset(&ss, 0, sizeof ss);
  if (at == napi_string) {
    char addr[INET6_ADDRSTRLEN + 1];
    size_t alen = 0;
    if (napi_get_value_string_utf8(env, argv[2], addr, sizeof addr, &alen) != napi_ok || alen >= sizeof addr - 1) {
      return throw_type(env, "send: address must be an IP literal");
    }
    int32_t port;
    if (napi_get_value_int32(env, argv[3], &port) != napi_ok || port < 1 || port > 65535) {
      return throw_type(env, "send: port must be 1..65535");
    }
    struct sockaddr_in* a4 = (struct sockaddr_in*)&ss;
    struct sockaddr_in6* a6 = (struct sockaddr_in6*)&ss;
    if (inet_pton(AF_INET, addr, &a4->sin_addr) == 1) {
      a4->sin_family = AF_INET;
      a4->sin_port = htons((uint16_t)port);
      sslen = sizeof *a4;
    } else if (inet_pton(AF_INET6, addr, &a6->sin6_addr) == 1) {
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons((uint16_t)port);
      sslen = sizeof *a6;
    } else {
      return number(env, -EAFNOSUPPORT);  // a name or a scoped address: the caller's send handles it
    }
  } else if (at != napi_null && at != napi_undefined) {
    return throw_type(env, "send: address must be a string or null");
  }
  int32_t stamp_offset;
  if (napi_get_value_int32(env, argv[4], &stamp_offset) != napi_ok || stamp_offset < -1 ||
      (stamp_offset >= 0 && (size_t)stamp_offset + 8 > len)) {
    return throw_type(env, "send: stampOffset must be -1 or leave 8 bytes inside the buffer");
  }
  int64_t anchor_ns = 0;
  bool lossless = true;
  if (stamp_offset >= 0 && napi_get_value_bigint_int64(env, argv[5], &anchor_ns, &lossless) != napi_ok) {
    return throw_type(env, "send: anchorNs must be a bigint");
  }
  int64_t t = mono_ns();
  if (stamp_offset >= 0) write_ntp((uint8_t*)data + stamp_offset, t + anchor_ns);
  ssize_t n = sslen ? sendto(fd, data, len, MSG_DONTWAIT, (struct sockaddr*)&ss, sslen) : send(fd, data, len, MSG_DONTWAIT);
  if (n < 0) return number(env, -(double)errno);
  return number(env, (double)t);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"enable", NULL, Enable, NULL, NULL, NULL, napi_default, NULL},
    {"rxMonoNs", NULL, RxMonoNs, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
