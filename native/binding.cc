// N-API glue: unpacks arguments, calls the platform file, returns ints.
// Errors are built in TypeScript, the one place that knows Node's error shapes.
//
// Values cross the boundary in two typed arrays allocated here once per
// napi_env (each worker thread has its own) and exported as `values` and
// `tcpInfoValues`: a call passes only the fd and a flag, and C++ uses the
// arrays' storage directly.
#include <napi.h>

#include "keepalive.h"
#include "process_fd.h"
#include "tcp_info.h"

namespace {

using tcp_keepalive::kFieldCount;
using tcp_keepalive::kTcpInfoFieldCount;

// JS names of the fields, in tcp_keepalive::Field order.
const char* const kFieldNames[kFieldCount] = {"enable", "idle", "interval", "count", "userTimeout"};

// The shared arrays of one napi_env, kept alive (and their storage in place)
// by the references until the env is torn down.
struct Shared {
  Napi::Reference<Napi::Int32Array> values_ref;
  Napi::Reference<Napi::Float64Array> tcp_info_ref;
  int* values;
  double* tcp_info;
};

// The three calls on the hot path are plain N-API: node-addon-api's wrapper
// and type checks cost about 30 ns a call, as much as the rest of the glue.
// Each gets its env's Shared as callback data. Arguments: (fd: number,
// verifyTcp: boolean). Only our own TypeScript calls these, so the check
// guards against misuse, not user input: a TypeError, and no system call.
bool Unpack(napi_env env, napi_callback_info info, int* fd, bool* verify_tcp, Shared** shared) {
  size_t argc = 2;
  napi_value argv[2];
  void* data;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) == napi_ok && argc == 2 &&
      napi_get_value_int32(env, argv[0], fd) == napi_ok && napi_get_value_bool(env, argv[1], verify_tcp) == napi_ok) {
    *shared = static_cast<Shared*>(data);
    return true;
  }
  napi_throw_type_error(env, nullptr, "expected (fd: number, verifyTcp: boolean)");
  return false;
}

napi_value Status(napi_env env, int status) {
  napi_value result;
  return napi_create_int32(env, status, &result) == napi_ok ? result : nullptr;
}

// Writes the fields of `values` that are not -1; returns 0, kNotTcp or -errno.
napi_value Apply(napi_env env, napi_callback_info info) {
  int fd;
  bool verify_tcp;
  Shared* shared;
  if (!Unpack(env, info, &fd, &verify_tcp, &shared)) return nullptr;
  return Status(env, tcp_keepalive::Apply(fd, shared->values, verify_tcp));
}

// Fills `values`; returns 0, kNotTcp or -errno.
napi_value Read(napi_env env, napi_callback_info info) {
  int fd;
  bool verify_tcp;
  Shared* shared;
  if (!Unpack(env, info, &fd, &verify_tcp, &shared)) return nullptr;
  return Status(env, tcp_keepalive::Read(fd, shared->values, verify_tcp));
}

// Fills `tcpInfoValues`; returns 0, kNotTcp or -errno.
napi_value ReadTcpInfo(napi_env env, napi_callback_info info) {
  int fd;
  bool verify_tcp;
  Shared* shared;
  if (!Unpack(env, info, &fd, &verify_tcp, &shared)) return nullptr;
  return Status(env, tcp_keepalive::ReadTcpInfo(fd, shared->tcp_info, verify_tcp));
}

Napi::Function HotFunction(Napi::Env env, const char* name, napi_callback callback, Shared* shared) {
  napi_value function;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, shared, &function), Napi::Function());
  return Napi::Function(env, function);
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

  Napi::Int32Array values = Napi::Int32Array::New(env, kFieldCount);
  Napi::Float64Array tcp_info = Napi::Float64Array::New(env, kTcpInfoFieldCount);
  Shared* shared = new Shared{Napi::Persistent(values), Napi::Persistent(tcp_info), values.Data(), tcp_info.Data()};
  env.SetInstanceData(shared);  // deleted with the env

  exports.Set("fields", fields);
  exports.Set("unsupportedReason", tcp_keepalive::kUnsupportedReason == nullptr
                                       ? env.Null()
                                       : Napi::String::New(env, tcp_keepalive::kUnsupportedReason));
  exports.Set("notTcp", tcp_keepalive::kNotTcp);
  exports.Set("acceptedSocketsInherit", Napi::Boolean::New(env, tcp_keepalive::kAcceptedSocketsInherit));
  exports.Set("values", values);
  exports.Set("apply", HotFunction(env, "apply", Apply, shared));
  exports.Set("read", HotFunction(env, "read", Read, shared));
  exports.Set("tcpInfo", Napi::Boolean::New(env, tcp_keepalive::kTcpInfoSupported));
  exports.Set("tcpInfoValues", tcp_info);
  exports.Set("readTcpInfo", HotFunction(env, "readTcpInfo", ReadTcpInfo, shared));
  exports.Set("duplicateProcessFd", Napi::Function::New(env, DuplicateProcessFd, "duplicateProcessFd"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tcp_keepalive, Init)
