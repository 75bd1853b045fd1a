// N-API glue: unpacks arguments, calls the platform file, returns ints.
// Errors are built in TypeScript, the one place that knows Node's error shapes.
#include <napi.h>

#include "keepalive.h"
#include "process_fd.h"
#include "tcp_info.h"

namespace {

using tcp_keepalive::kFieldCount;

// JS names of the fields, in tcp_keepalive::Field order.
const char* const kFieldNames[kFieldCount] = {"enable", "idle", "interval", "count", "userTimeout"};

// (fd: number, values: Int32Array(kFieldCount)) -> the fd and the array's
// storage, or nullptr after throwing a TypeError. Only our own TypeScript
// calls these, so this guards against misuse, not user input.
int* Unpack(const Napi::CallbackInfo& info, int* fd) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      info[1].As<Napi::Int32Array>().ElementLength() != kFieldCount) {
    Napi::TypeError::New(env, "expected (fd: number, values: Int32Array(5))").ThrowAsJavaScriptException();
    return nullptr;
  }
  *fd = info[0].As<Napi::Number>().Int32Value();
  return info[1].As<Napi::Int32Array>().Data();
}

Napi::Value Apply(const Napi::CallbackInfo& info) {
  int fd;
  int* values = Unpack(info, &fd);
  if (values == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), tcp_keepalive::Apply(fd, values));
}

Napi::Value Read(const Napi::CallbackInfo& info) {
  int fd;
  int* values = Unpack(info, &fd);
  if (values == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), tcp_keepalive::Read(fd, values));
}

// (fd: number, values: Float64Array(kTcpInfoFieldCount)) -> status.
Napi::Value ReadTcpInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[1].As<Napi::Float64Array>().ElementLength() != tcp_keepalive::kTcpInfoFieldCount) {
    Napi::TypeError::New(env, "expected (fd: number, values: Float64Array(10))").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(env, tcp_keepalive::ReadTcpInfo(fd, info[1].As<Napi::Float64Array>().Data()));
}

// (pid: number, fd: number) -> a new fd, or -errno.
Napi::Value DuplicateProcessFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "expected (pid: number, fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int pid = info[0].As<Napi::Number>().Int32Value();
  int fd = info[1].As<Napi::Number>().Int32Value();
  return Napi::Number::New(env, tcp_keepalive::DuplicateProcessFd(pid, fd));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object fields = Napi::Object::New(env);
  for (int i = 0; i < kFieldCount; i++) {
    const tcp_keepalive::FieldLimits& limits = tcp_keepalive::kLimits[i];
    if (!limits.supported) continue;
    Napi::Object field = Napi::Object::New(env);
    field.Set("min", limits.min);
    field.Set("max", limits.max);
    field.Set("unitMs", limits.unit_ms);
    fields.Set(kFieldNames[i], field);
  }
  exports.Set("fields", fields);
  exports.Set("unsupportedReason", tcp_keepalive::kUnsupportedReason == nullptr
                                       ? env.Null()
                                       : Napi::String::New(env, tcp_keepalive::kUnsupportedReason));
  exports.Set("notTcp", tcp_keepalive::kNotTcp);
  exports.Set("acceptedSocketsInherit", Napi::Boolean::New(env, tcp_keepalive::kAcceptedSocketsInherit));
  exports.Set("apply", Napi::Function::New(env, Apply, "apply"));
  exports.Set("read", Napi::Function::New(env, Read, "read"));
  exports.Set("tcpInfo", Napi::Boolean::New(env, tcp_keepalive::kTcpInfoSupported));
  exports.Set("readTcpInfo", Napi::Function::New(env, ReadTcpInfo, "readTcpInfo"));
  exports.Set("duplicateProcessFd", Napi::Function::New(env, DuplicateProcessFd, "duplicateProcessFd"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tcp_keepalive, Init)
