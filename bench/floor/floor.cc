// The floor for bench/: the system calls a keepalive call needs, looped in C
// in the same process, so nothing but the kernel's own cost is measured.
// Bench-only: built by bench/floor/index.mjs, never shipped.
#include <napi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

namespace {

long long NowNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1000000000LL + now.tv_nsec;
}

void Set(int fd, int level, int name, int value) { setsockopt(fd, level, name, &value, sizeof value); }

// What configureKeepalive writes: the timings, then SO_KEEPALIVE.
// `set` 2: idle + on; 4: idle, interval, count + on; 3: interval, count,
// user timeout + on. Times alternate between 1 s and 2 s, as the JS
// contenders' values do.
void Writes(int fd, int set, int i) {
  if (set != 3) Set(fd, IPPROTO_TCP, TCP_KEEPIDLE, 1 + (i & 1));
  if (set != 2) {
    Set(fd, IPPROTO_TCP, TCP_KEEPINTVL, 1 + (i & 1));
    Set(fd, IPPROTO_TCP, TCP_KEEPCNT, 3);
  }
  if (set == 3) Set(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 10000);
  Set(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
}

// (fd, set: 2 | 3 | 4, iterations) -> ns per iteration.
Napi::Value WriteLoop(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int set = info[1].As<Napi::Number>().Int32Value();
  int iterations = info[2].As<Napi::Number>().Int32Value();
  long long start = NowNs();
  for (int i = 0; i < iterations; i++) Writes(fd, set, i);
  return Napi::Number::New(info.Env(), static_cast<double>(NowNs() - start) / iterations);
}

// (fd, iterations) -> ns per iteration of the 5 reads readKeepalive makes.
Napi::Value ReadLoop(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int iterations = info[1].As<Napi::Number>().Int32Value();
  static const int kOptions[5][2] = {{SOL_SOCKET, SO_KEEPALIVE},
                                     {IPPROTO_TCP, TCP_KEEPIDLE},
                                     {IPPROTO_TCP, TCP_KEEPINTVL},
                                     {IPPROTO_TCP, TCP_KEEPCNT},
                                     {IPPROTO_TCP, TCP_USER_TIMEOUT}};
  long long start = NowNs();
  for (int i = 0; i < iterations; i++) {
    for (const auto& option : kOptions) {
      int value;
      socklen_t length = sizeof value;
      getsockopt(fd, option[0], option[1], &value, &length);
    }
  }
  return Napi::Number::New(info.Env(), static_cast<double>(NowNs() - start) / iterations);
}

// (fds: Int32Array) -> ns per fd for the 4 writes, once on each (cold sockets).
Napi::Value WriteEachOnce(const Napi::CallbackInfo& info) {
  Napi::Int32Array fds = info[0].As<Napi::Int32Array>();
  long long start = NowNs();
  for (size_t i = 0; i < fds.ElementLength(); i++) Writes(fds[i], 4, 0);
  return Napi::Number::New(info.Env(), static_cast<double>(NowNs() - start) / fds.ElementLength());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("writeLoop", Napi::Function::New(env, WriteLoop));
  exports.Set("readLoop", Napi::Function::New(env, ReadLoop));
  exports.Set("writeEachOnce", Napi::Function::New(env, WriteEachOnce));
  return exports;
}

}  // namespace

NODE_API_MODULE(floor, Init)
