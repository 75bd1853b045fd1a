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
#include "socket_lookup.h"
#include "tcp_info.h"

namespace {

using tcp_keepalive::kFieldCount;
using tcp_keepalive::kTcpInfoFieldCount;

using tcp_keepalive::kLookupCapacity;

// JS names of the fields, in tcp_keepalive::Field order.
const char* const kFieldNames[kFieldCount] = {"enable", "idle", "interval", "count", "userTimeout"};

// The shared arrays of one napi_env, kept alive (and their storage in place)
// by the references until the env is torn down.
struct Shared {
  Napi::Reference<Napi::Int32Array> values_ref;
  Napi::Reference<Napi::Float64Array> tcp_info_ref;
  Napi::Reference<Napi::Float64Array> found_ref;
  int* values;
  double* tcp_info;
  double* found;
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

// (localIp: string, localPort: number, remoteIp: string | null, remotePort: number)
// -> how many of this process's TCP sockets have these addresses, or -errno.
// Fills `found`: [0] 1 when they are SO_REUSEPORT listener twins, then
// kLookupCapacity fds, then their kLookupCapacity inodes.
Napi::Value FindSocket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsString() || !info[1].IsNumber() || !(info[2].IsString() || info[2].IsNull()) ||
      !info[3].IsNumber()) {
    Napi::TypeError::New(env, "expected (localIp: string, localPort: number, remoteIp: string | null, remotePort: number)")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string local = info[0].As<Napi::String>().Utf8Value();
  std::string remote = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : std::string();
  tcp_keepalive::LookupResult result;
  int count = tcp_keepalive::FindSocket(local.c_str(), info[1].As<Napi::Number>().Int32Value(),
                                        info[2].IsString() ? remote.c_str() : nullptr, info[3].As<Napi::Number>().Int32Value(),
                                        &result);
  double* found = static_cast<Shared*>(info.Data())->found;
  found[0] = count > 1 && result.reuseport_twins ? 1 : 0;
  for (int i = 0; i < kLookupCapacity; i++) {
    bool filled = i < count;
    found[1 + i] = filled ? result.fds[i] : -1;
    found[1 + kLookupCapacity + i] = filled ? result.inodes[i] : -1;
  }
  return Napi::Number::New(env, count);
}

// (fd: number) -> the inode of the socket on fd, or -errno.
Napi::Value SocketInode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "expected (fd: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, tcp_keepalive::SocketInode(info[0].As<Napi::Number>().Int32Value()));
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
  Napi::Float64Array found = Napi::Float64Array::New(env, 1 + 2 * kLookupCapacity);
  Shared* shared = new Shared{Napi::Persistent(values), Napi::Persistent(tcp_info), Napi::Persistent(found),
                              values.Data(),         tcp_info.Data(),          found.Data()};
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
  exports.Set("socketLookup", Napi::Boolean::New(env, tcp_keepalive::kSocketLookupSupported));
  exports.Set("lookupCapacity", kLookupCapacity);
  exports.Set("found", found);
  exports.Set("findSocket", Napi::Function::New(env, FindSocket, "findSocket", shared));
  exports.Set("socketInode", Napi::Function::New(env, SocketInode, "socketInode"));
  return exports;
}

}  // namespace

NODE_API_MODULE(tcp_keepalive, Init)
