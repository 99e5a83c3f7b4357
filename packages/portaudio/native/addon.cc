// N-API surface of the addon: listDevices() and the OutputStream class. Validates arguments,
// holds references to the shared ring buffers for as long as the native stream may touch them,
// and turns every failure into a thrown JS Error (never a crash).
#include <node_api.h>
#include <portaudio.h>

#include <sched.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "output-stream.h"
#include "pa-runtime.h"
#if defined(JAS_HAVE_PULSE)
#include "pulse-output-stream.h"
#endif
#include <memory>

namespace {

using jas::OutputBackend;

#define CHECK_NAPI(env, call)                                 \
  do {                                                        \
    if ((call) != napi_ok) {                                  \
      ThrowPending(env, "N-API call failed: " #call);         \
      return nullptr;                                         \
    }                                                         \
  } while (0)

void ThrowPending(napi_env env, const char* message) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "JAS_ERR_PORTAUDIO", message);
}

napi_value Throw(napi_env env, const std::string& message) {
  napi_throw_error(env, "JAS_ERR_PORTAUDIO", message.c_str());
  return nullptr;
}

void SetNumber(napi_env env, napi_value obj, const char* key, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

void SetBool(napi_env env, napi_value obj, const char* key, bool value) {
  napi_value v;
  if (napi_get_boolean(env, value, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

void SetString(napi_env env, napi_value obj, const char* key, const std::string& value) {
  napi_value v;
  if (napi_create_string_utf8(env, value.c_str(), value.size(), &v) == napi_ok) {
    napi_set_named_property(env, obj, key, v);
  }
}

void SetInt64(napi_env env, napi_value obj, const char* key, int64_t value) {
  napi_value v;  // counters stay far below 2^53; a JS number is what callers want
  if (napi_create_int64(env, value, &v) == napi_ok) napi_set_named_property(env, obj, key, v);
}

// Reads an optional property: false (with an exception pending) on a failed N-API call; true with
// *present false when it is absent or undefined, else *present true and its value and type.
bool GetOptional(napi_env env, napi_value obj, const char* key, napi_value* value, napi_valuetype* type, bool* present) {
  *present = false;
  bool has = false;
  if (napi_has_named_property(env, obj, key, &has) != napi_ok) return false;
  if (!has) return true;
  if (napi_get_named_property(env, obj, key, value) != napi_ok || napi_typeof(env, *value, type) != napi_ok) return false;
  *present = *type != napi_undefined;
  return true;
}

// Reads an optional numeric property; returns false (with an exception pending) if it has the
// wrong type.
bool GetNumber(napi_env env, napi_value obj, const char* key, double* out, bool* present) {
  napi_value v;
  napi_valuetype type;
  if (!GetOptional(env, obj, key, &v, &type, present)) return false;
  if (!*present) return true;
  if (type != napi_number) {
    Throw(env, std::string("option '") + key + "' must be a number");
    return false;
  }
  return napi_get_value_double(env, v, out) == napi_ok;
}

// Reads an optional string property; returns false (with an exception pending) if it has the
// wrong type.
bool GetString(napi_env env, napi_value obj, const char* key, std::string* out, bool* present) {
  napi_value v;
  napi_valuetype type;
  if (!GetOptional(env, obj, key, &v, &type, present)) return false;
  if (!*present) return true;
  char buf[512];
  size_t len = 0;
  if (type != napi_string || napi_get_value_string_utf8(env, v, buf, sizeof(buf), &len) != napi_ok || len >= sizeof(buf) - 1) {
    Throw(env, std::string("option '") + key + "' must be a string of at most 500 bytes");
    return false;
  }
  out->assign(buf, len);
  return true;
}

// ---- listDevices(refresh) ----

napi_value ListDevices(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  bool refresh = false;
  if (argc >= 1) napi_get_value_bool(env, argv[0], &refresh);  // non-boolean: no refresh
  PaError err = refresh ? jas::RefreshPortAudio() : jas::EnsurePortAudio();
  if (err != paNoError) return Throw(env, "Pa_Initialize: " + jas::PaErrorMessage(err));

  const PaDeviceIndex count = Pa_GetDeviceCount();
  if (count < 0) return Throw(env, "Pa_GetDeviceCount: " + jas::PaErrorMessage(count));
  const PaDeviceIndex defaultOut = Pa_GetDefaultOutputDevice();
  napi_value list;
  CHECK_NAPI(env, napi_create_array_with_length(env, static_cast<size_t>(count), &list));
  for (PaDeviceIndex i = 0; i < count; i++) {
    const PaDeviceInfo* info = Pa_GetDeviceInfo(i);
    if (info == nullptr) continue;
    const PaHostApiInfo* api = Pa_GetHostApiInfo(info->hostApi);
    napi_value d;
    CHECK_NAPI(env, napi_create_object(env, &d));
    SetNumber(env, d, "index", i);
    SetString(env, d, "name", info->name != nullptr ? info->name : "");
    SetString(env, d, "hostApi", api != nullptr && api->name != nullptr ? api->name : "");
    SetNumber(env, d, "maxOutputChannels", info->maxOutputChannels);
    SetNumber(env, d, "defaultSampleRate", info->defaultSampleRate);
    SetNumber(env, d, "defaultLowOutputLatencyS", info->defaultLowOutputLatency);
    SetNumber(env, d, "defaultHighOutputLatencyS", info->defaultHighOutputLatency);
    SetBool(env, d, "isDefaultOutput", i == defaultOut);
    CHECK_NAPI(env, napi_set_element(env, list, static_cast<uint32_t>(i), d));
  }
  return list;
}

// ---- OutputStream ----

// The JS wrapper object owns one of these. The references keep the SharedArrayBuffers' typed
// array views (and so their memory) alive while the real-time callback may read or write them.
struct StreamHandle {
  napi_env env = nullptr;
  std::unique_ptr<OutputBackend> stream;
  napi_ref pcmRef = nullptr;
  napi_ref timingRef = nullptr;
  bool cleanupHookAdded = false;
  // Set while closeAsync's worker owns the close: the stream may hang in Pa_AbortStream (PortAudio's
  // ALSA thread spinning after the server died), and nobody else may wait on it then.
  std::atomic<bool> closingAsync{false};

  void ReleaseRefs() {
    if (pcmRef != nullptr) napi_delete_reference(env, pcmRef);
    if (timingRef != nullptr) napi_delete_reference(env, timingRef);
    pcmRef = timingRef = nullptr;
  }
};

// The JS thread that owns the stream is going away (worker terminated, process exiting): stop
// the callback before the environment frees the shared memory.
void EnvCleanup(void* arg) {
  auto* h = static_cast<StreamHandle*>(arg);
  h->cleanupHookAdded = false;
  if (!h->closingAsync.load()) h->stream->Close();
}

void FinalizeHandle(napi_env env, void* data, void*) {
  auto* h = static_cast<StreamHandle*>(data);
  h->stream->Close();  // the callback can no longer touch the rings
  if (h->cleanupHookAdded) napi_remove_env_cleanup_hook(env, EnvCleanup, h);
  h->ReleaseRefs();
  delete h;
}

// Returns the data pointer and length of a Uint8Array option (over a SharedArrayBuffer), and a
// reference to it; nullptr with an exception pending on error.
uint8_t* GetBytes(napi_env env, napi_value options, const char* key, size_t* length, napi_ref* ref) {
  napi_value v;
  bool isTyped = false;
  if (napi_get_named_property(env, options, key, &v) != napi_ok || napi_is_typedarray(env, v, &isTyped) != napi_ok ||
      !isTyped) {
    Throw(env, std::string("option '") + key + "' must be a Uint8Array over the ring's SharedArrayBuffer");
    return nullptr;
  }
  napi_typedarray_type type;
  void* data = nullptr;
  napi_value buffer;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, length, &data, &buffer, &offset) != napi_ok || type != napi_uint8_array ||
      data == nullptr) {
    Throw(env, std::string("option '") + key + "' must be a non-empty Uint8Array");
    return nullptr;
  }
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    Throw(env, std::string("option '") + key + "' must start 8-byte aligned");
    return nullptr;
  }
  if (napi_create_reference(env, v, 1, ref) != napi_ok) {
    ThrowPending(env, "napi_create_reference failed");
    return nullptr;
  }
  return static_cast<uint8_t*>(data);
}

napi_value StreamConstructor(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  napi_value self;
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, &self, nullptr));
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_object) {
    return Throw(env, "OutputStream needs an options object");
  }
  napi_value options = argv[0];

  jas::OutputStreamConfig config;
  double num = 0;
  bool present = false;
  std::string api;
  if (!GetString(env, options, "api", &api, &present)) return nullptr;
  if (present && api == "pulse") {
#if defined(JAS_HAVE_PULSE)
    config.api = jas::OutputApi::kPulse;
#else
    return Throw(env, "this build has no PulseAudio backend (built without libpulse-dev)");
#endif
  } else if (present && api != "portaudio") {
    return Throw(env, "option 'api' must be 'portaudio' or 'pulse'");
  }
  if (!GetString(env, options, "pulseSink", &config.pulseSink, &present)) return nullptr;
  if (!GetNumber(env, options, "device", &num, &present)) return nullptr;
  if (present) {
    if (num < 0 || num != static_cast<int>(num)) return Throw(env, "option 'device' must be a device index");
    config.device = static_cast<PaDeviceIndex>(num);
  }
  if (!GetNumber(env, options, "sampleRate", &num, &present)) return nullptr;
  if (!present || !(num >= 8000 && num <= 384000)) return Throw(env, "option 'sampleRate' must be 8000..384000");
  config.sampleRate = num;
  if (!GetNumber(env, options, "channels", &num, &present)) return nullptr;
  if (!present || num < 1 || num > 32 || num != static_cast<int>(num)) return Throw(env, "option 'channels' must be 1..32");
  config.channels = static_cast<int>(num);
  if (!GetNumber(env, options, "framesPerBuffer", &num, &present)) return nullptr;
  if (present) {
    if (num < 0 || num > 65536 || num != static_cast<int>(num)) return Throw(env, "option 'framesPerBuffer' must be 0..65536");
    config.framesPerBuffer = static_cast<unsigned long>(num);
  }
  if (!GetNumber(env, options, "suggestedLatencyS", &num, &present)) return nullptr;
  if (present) {
    if (!(num >= 0 && num <= 2)) return Throw(env, "option 'suggestedLatencyS' must be 0..2");
    config.suggestedLatencyS = num;
  }
  bool hasRealtime = false;
  napi_has_named_property(env, options, "realtime", &hasRealtime);
  if (hasRealtime) {
    napi_value v;
    bool b = true;
    if (napi_get_named_property(env, options, "realtime", &v) == napi_ok && napi_get_value_bool(env, v, &b) == napi_ok) {
      config.realtime = b;
    }
  }

  auto* h = new StreamHandle();
  h->env = env;
#if defined(JAS_HAVE_PULSE)
  if (config.api == jas::OutputApi::kPulse) {
    h->stream = std::make_unique<jas::PulseOutputStream>();
  } else
#endif
  {
    h->stream = std::make_unique<jas::OutputStream>();
  }
  size_t pcmBytes = 0, timingBytes = 0;
  uint8_t* pcm = GetBytes(env, options, "pcmRing", &pcmBytes, &h->pcmRef);
  uint8_t* timing = pcm != nullptr ? GetBytes(env, options, "timingRing", &timingBytes, &h->timingRef) : nullptr;
  auto fail = [&](const std::string& message) -> napi_value {
    h->ReleaseRefs();
    delete h;
    if (!message.empty()) Throw(env, message);
    return nullptr;
  };
  if (pcm == nullptr || timing == nullptr) return fail("");

  // Validate the headers against the buffer sizes: the callback trusts them blindly.
  if (pcmBytes < jas::kHeaderBytes || timingBytes < jas::kHeaderBytes) return fail("ring buffers are smaller than their headers");
  const int32_t ringChannels = jas::Load32(jas::At32(pcm, jas::kPcmChannels));
  const int32_t capacityFrames = jas::Load32(jas::At32(pcm, jas::kPcmCapacityFrames));
  const int32_t sampleFormat = jas::Load32(jas::At32(pcm, jas::kPcmSampleFormat));
  if (ringChannels != config.channels) return fail("PCM ring channels do not match option 'channels'");
  if (sampleFormat != jas::kSampleFormatInt16) return fail("PCM ring sample format must be 0 (int16)");
  if (capacityFrames <= 0 ||
      jas::kHeaderBytes + static_cast<size_t>(capacityFrames) * static_cast<size_t>(ringChannels) * 2 > pcmBytes) {
    return fail("PCM ring capacityFrames does not fit its buffer");
  }
  const int32_t timingCapacity = jas::Load32(jas::At32(timing, jas::kTimingCapacity));
  if (timingCapacity < jas::kTimingMinCapacity ||
      jas::kHeaderBytes + static_cast<size_t>(timingCapacity) * jas::kTimingEntryBytes > timingBytes) {
    return fail("timing ring capacity must be >= 32 and fit its buffer");
  }
  config.pcm.base = pcm;
  config.pcm.capacityFrames = capacityFrames;
  config.pcm.channels = ringChannels;
  config.timing.base = timing;
  config.timing.capacity = timingCapacity;

  std::string err = h->stream->Open(config);
  if (!err.empty()) return fail(err);
  if (napi_wrap(env, self, h, FinalizeHandle, nullptr, nullptr) != napi_ok) {
    h->stream->Close();
    return fail("napi_wrap failed");
  }
  if (napi_add_env_cleanup_hook(env, EnvCleanup, h) == napi_ok) h->cleanupHookAdded = true;
  return self;
}

StreamHandle* Unwrap(napi_env env, napi_callback_info cbinfo) {
  napi_value self;
  size_t argc = 0;
  if (napi_get_cb_info(env, cbinfo, &argc, nullptr, &self, nullptr) != napi_ok) return nullptr;
  void* data = nullptr;
  if (napi_unwrap(env, self, &data) != napi_ok || data == nullptr) {
    Throw(env, "not an OutputStream");
    return nullptr;
  }
  return static_cast<StreamHandle*>(data);
}

napi_value Undefined(napi_env env) {
  napi_value v;
  napi_get_undefined(env, &v);
  return v;
}

napi_value StreamStart(napi_env env, napi_callback_info cbinfo) {
  StreamHandle* h = Unwrap(env, cbinfo);
  if (h == nullptr) return nullptr;
  std::string err = h->stream->Start();
  return err.empty() ? Undefined(env) : Throw(env, err);
}

napi_value StreamStop(napi_env env, napi_callback_info cbinfo) {
  StreamHandle* h = Unwrap(env, cbinfo);
  if (h == nullptr) return nullptr;
  std::string err = h->stream->Stop();
  return err.empty() ? Undefined(env) : Throw(env, err);
}

napi_value StreamClose(napi_env env, napi_callback_info cbinfo) {
  StreamHandle* h = Unwrap(env, cbinfo);
  if (h == nullptr) return nullptr;
  std::string err = h->stream->Close();
  // The callback is gone: the rings may be collected once JS drops them too.
  h->ReleaseRefs();
  return err.empty() ? Undefined(env) : Throw(env, err);
}

// closeAsync(): closes on a libuv worker thread and resolves when done, so a close that hangs in
// PortAudio (its ALSA thread spinning after the audio server died: seen with PipeWire's plugin)
// blocks neither the JS thread nor process exit. The wrapper stays referenced until then.
struct CloseWork {
  StreamHandle* h = nullptr;
  napi_ref self = nullptr;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
  std::string err;
};

void CloseExecute(napi_env, void* data) {
  auto* w = static_cast<CloseWork*>(data);
  w->err = w->h->stream->Close();
}

void CloseComplete(napi_env env, napi_status, void* data) {
  auto* w = static_cast<CloseWork*>(data);
  w->h->ReleaseRefs();
  w->h->closingAsync.store(false);
  if (w->err.empty()) {
    napi_resolve_deferred(env, w->deferred, Undefined(env));
  } else {
    napi_value code, msg, error;
    napi_create_string_utf8(env, "JAS_ERR_PORTAUDIO", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, w->err.c_str(), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, code, msg, &error);
    napi_reject_deferred(env, w->deferred, error);
  }
  napi_delete_reference(env, w->self);
  napi_delete_async_work(env, w->work);
  delete w;
}

napi_value StreamCloseAsync(napi_env env, napi_callback_info cbinfo) {
  napi_value self;
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, nullptr, nullptr, &self, nullptr));
  StreamHandle* h = Unwrap(env, cbinfo);
  if (h == nullptr) return nullptr;
  if (h->closingAsync.exchange(true)) return Throw(env, "closeAsync: already closing");
  auto* w = new CloseWork();
  w->h = h;
  napi_value promise, name;
  if (napi_create_promise(env, &w->deferred, &promise) != napi_ok || napi_create_reference(env, self, 1, &w->self) != napi_ok ||
      napi_create_string_utf8(env, "jas.closeAsync", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, nullptr, name, CloseExecute, CloseComplete, w, &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    h->closingAsync.store(false);
    delete w;  // (a reference created before the failure leaks with the wrapper: harmless)
    return Throw(env, "closeAsync: could not queue the close");
  }
  return promise;
}

// demoteCallbackThread(): SCHED_IDLE for PortAudio's callback thread, lock-free. For a stream left
// behind because its close hangs: that thread spins (100 % of a core, at SCHED_FIFO if it got it)
// and must not starve the engine or the reopened stream. Returns the thread id, or 0 if unknown.
napi_value StreamDemoteCallbackThread(napi_env env, napi_callback_info cbinfo) {
  StreamHandle* h = Unwrap(env, cbinfo);
  if (h == nullptr) return nullptr;
  const int tid = h->stream->CallbackTid();
  sched_param param{};
  const bool ok = tid > 0 && sched_setscheduler(static_cast<pid_t>(tid), SCHED_IDLE, &param) == 0;
  napi_value v;
  napi_create_int32(env, ok ? tid : 0, &v);
  return v;
}

napi_value StreamInfo(napi_env env, napi_callback_info cbinfo) {
  StreamHandle* h = Unwrap(env, cbinfo);
  if (h == nullptr) return nullptr;
  napi_value o;
  CHECK_NAPI(env, napi_create_object(env, &o));
  SetNumber(env, o, "outputLatencyS", h->stream->OutputLatencyS());
  SetNumber(env, o, "sampleRate", h->stream->SampleRate());
  SetString(env, o, "deviceName", h->stream->DeviceName());
  SetBool(env, o, "open", h->stream->IsOpen());
  return o;
}

napi_value StreamStats(napi_env env, napi_callback_info cbinfo) {
  StreamHandle* h = Unwrap(env, cbinfo);
  if (h == nullptr) return nullptr;
  const jas::OutputStreamStats s = h->stream->Stats();
  napi_value o;
  CHECK_NAPI(env, napi_create_object(env, &o));
  SetInt64(env, o, "callbacks", s.callbacks);
  SetInt64(env, o, "framesPlayed", s.framesPlayed);
  SetInt64(env, o, "underrunEvents", s.underrunEvents);
  SetInt64(env, o, "underrunFrames", s.underrunFrames);
  SetInt64(env, o, "outputUnderflowFlags", s.outputUnderflowFlags);
  SetInt64(env, o, "outputOverflowFlags", s.outputOverflowFlags);
  SetInt64(env, o, "primingOutputFlags", s.primingOutputFlags);
  SetInt64(env, o, "timeFallbacks", s.timeFallbacks);
  SetInt64(env, o, "lastDacDelayNs", s.lastDacDelayNs);
  SetBool(env, o, "active", s.active);
  SetBool(env, o, "realtime", s.realtime);
  return o;
}

// The two number arguments of a call, as integers; false if there are fewer or one is not a number.
bool GetTwoIntegers(napi_env env, napi_callback_info cbinfo, int64_t values[2]) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) != napi_ok) return false;
  for (size_t i = 0; i < 2; i++) {
    napi_valuetype type = napi_undefined;
    if (i >= argc || napi_typeof(env, argv[i], &type) != napi_ok || type != napi_number ||
        napi_get_value_int64(env, argv[i], &values[i]) != napi_ok) {
      return false;
    }
  }
  return true;
}

// setThreadRealtime(tid, priority): SCHED_FIFO for one thread of this process (the JS side checks
// that the tid is ours). The audio engine's worker thread asks for it so that no other thread on
// the host can delay its refill of the PCM ring; SCHED_RESET_ON_FORK keeps children normal.
napi_value SetThreadRealtime(napi_env env, napi_callback_info cbinfo) {
  int64_t values[2] = {0, 0};
  if (!GetTwoIntegers(env, cbinfo, values)) return Throw(env, "setThreadRealtime(tid, priority): two integers expected");
  const int64_t tid = values[0];
  const int64_t priority = values[1];
  if (tid <= 0 || tid > INT32_MAX) return Throw(env, "setThreadRealtime: tid out of range");
  const int lo = sched_get_priority_min(SCHED_FIFO);
  const int hi = sched_get_priority_max(SCHED_FIFO);
  if (priority < lo || priority > hi) {
    return Throw(env, "setThreadRealtime: priority must be in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  sched_param param{};
  param.sched_priority = static_cast<int>(priority);
  if (sched_setscheduler(static_cast<pid_t>(tid), SCHED_FIFO | SCHED_RESET_ON_FORK, &param) != 0) {
    const int err = errno;
    return Throw(env, std::string("sched_setscheduler(SCHED_FIFO ") + std::to_string(priority) + "): " + std::strerror(err));
  }
  return Undefined(env);
}

// isOutputFormatSupported(device, channels, sampleRate, suggestedLatencyS): null when PortAudio says
// the device opens int16 output at that rate, else PortAudio's reason. device -1 = the default
// output. Lets the member pick a device rate before it sizes its PCM ring (a device that only opens
// at 44.1 kHz while the timeline is 48 kHz: the engine then resamples to the device rate).
napi_value IsOutputFormatSupported(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  if (argc < 4) return Throw(env, "isOutputFormatSupported(device, channels, sampleRate, suggestedLatencyS): 4 arguments expected");
  int64_t device = 0;
  int64_t channels = 0;
  double rate = 0;
  double latency = 0;
  if (napi_get_value_int64(env, argv[0], &device) != napi_ok || napi_get_value_int64(env, argv[1], &channels) != napi_ok ||
      napi_get_value_double(env, argv[2], &rate) != napi_ok || napi_get_value_double(env, argv[3], &latency) != napi_ok) {
    return Throw(env, "isOutputFormatSupported: numbers expected");
  }
  if (channels < 1 || channels > 32 || !(rate >= 8000 && rate <= 384000) || !(latency >= 0 && latency <= 10)) {
    return Throw(env, "isOutputFormatSupported: channels, sampleRate or suggestedLatencyS out of range");
  }
  PaError err = jas::EnsurePortAudio();
  if (err != paNoError) return Throw(env, "Pa_Initialize: " + jas::PaErrorMessage(err));
  const PaDeviceIndex index = device < 0 ? Pa_GetDefaultOutputDevice() : static_cast<PaDeviceIndex>(device);
  if (index == paNoDevice || index >= Pa_GetDeviceCount()) return Throw(env, "isOutputFormatSupported: no such device");
  PaStreamParameters out{};
  out.device = index;
  out.channelCount = static_cast<int>(channels);
  out.sampleFormat = paInt16;
  out.suggestedLatency = latency;
  out.hostApiSpecificStreamInfo = nullptr;
  err = Pa_IsFormatSupported(nullptr, &out, rate);
  napi_value result;
  if (err == paFormatIsSupported) {
    CHECK_NAPI(env, napi_get_null(env, &result));
  } else {
    const std::string reason = jas::PaErrorMessage(err);
    CHECK_NAPI(env, napi_create_string_utf8(env, reason.c_str(), reason.size(), &result));
  }
  return result;
}

// tuneMalloc(arenaMax, mmapThresholdBytes): glibc malloc settings for a long-running daemon that
// allocates and frees multi-megabyte track buffers from several threads. By default glibc raises
// its mmap threshold to the size of every mmapped block freed (up to 32 MiB), so the next track's
// buffer comes from a heap arena instead, and freed space in arenas is rarely returned: a member
// looping a playlist of short tracks grew 93 -> 171 MiB in 6 minutes. A fixed threshold keeps big
// buffers mmapped (returned at free); fewer arenas bound per-thread fragmentation. Either value 0
// leaves that setting alone. Returns which settings took; throws where the C library is not glibc.
napi_value TuneMalloc(napi_env env, napi_callback_info cbinfo) {
  int64_t values[2] = {0, 0};
  if (!GetTwoIntegers(env, cbinfo, values)) return Throw(env, "tuneMalloc(arenaMax, mmapThresholdBytes): two integers expected");
  if (values[0] < 0 || values[0] > 1024) return Throw(env, "tuneMalloc: arenaMax must be in 0..1024");
  if (values[1] < 0 || values[1] > 32 * 1024 * 1024) return Throw(env, "tuneMalloc: mmapThresholdBytes must be in 0..33554432");
#if defined(__GLIBC__)
  napi_value o;
  CHECK_NAPI(env, napi_create_object(env, &o));
  SetBool(env, o, "arenaMax", values[0] > 0 && mallopt(M_ARENA_MAX, static_cast<int>(values[0])) == 1);
  SetBool(env, o, "mmapThreshold", values[1] > 0 && mallopt(M_MMAP_THRESHOLD, static_cast<int>(values[1])) == 1);
  return o;
#else
  return Throw(env, "tuneMalloc: not glibc");
#endif
}

// trimMalloc(): gives the free pages inside glibc's heaps back to the kernel (malloc_trim(0)).
// glibc only returns the top of a heap by itself; a member's decoder thread frees tens of MB of
// small blocks below live ones, and those pages stayed resident (bench:sync with 5-minute
// tracks: the main heap held 40 MiB of which 32 MiB were free, freed by one trim). Returns
// whether memory was released; throws where the C library is not glibc.
napi_value TrimMalloc(napi_env env, napi_callback_info /*cbinfo*/) {
#if defined(__GLIBC__)
  napi_value released;
  CHECK_NAPI(env, napi_get_boolean(env, malloc_trim(0) == 1, &released));
  return released;
#else
  return Throw(env, "trimMalloc: not glibc");
#endif
}

#if defined(JAS_HAVE_PULSE)
// pulseServerInfo(timeoutMs): { server, version, defaultSink } of the PulseAudio server this
// process would play to (PulseAudio, or pipewire-pulse); throws when there is none.
napi_value PulseServerInfo(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK_NAPI(env, napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr));
  int64_t timeoutMs = 1000;
  if (argc >= 1 && (napi_get_value_int64(env, argv[0], &timeoutMs) != napi_ok || timeoutMs < 1 || timeoutMs > 10000)) {
    return Throw(env, "pulseServerInfo(timeoutMs): timeoutMs must be 1..10000");
  }
  jas::PulseServerInfo info;
  const std::string err = jas::QueryPulseServer(static_cast<int>(timeoutMs), &info);
  if (!err.empty()) return Throw(env, err);
  napi_value o;
  CHECK_NAPI(env, napi_create_object(env, &o));
  SetString(env, o, "server", info.serverName);
  SetString(env, o, "version", info.serverVersion);
  SetString(env, o, "defaultSink", info.defaultSink);
  return o;
}
#endif

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"start", nullptr, StreamStart, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stop", nullptr, StreamStop, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"close", nullptr, StreamClose, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"closeAsync", nullptr, StreamCloseAsync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"demoteCallbackThread", nullptr, StreamDemoteCallbackThread, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, StreamInfo, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stats", nullptr, StreamStats, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  CHECK_NAPI(env, napi_define_class(env, "OutputStream", NAPI_AUTO_LENGTH, StreamConstructor, nullptr,
                                    sizeof(methods) / sizeof(methods[0]), methods, &cls));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "OutputStream", cls));
  napi_value list;
  CHECK_NAPI(env, napi_create_function(env, "listDevices", NAPI_AUTO_LENGTH, ListDevices, nullptr, &list));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "listDevices", list));
  napi_value realtime;
  CHECK_NAPI(env, napi_create_function(env, "setThreadRealtime", NAPI_AUTO_LENGTH, SetThreadRealtime, nullptr, &realtime));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "setThreadRealtime", realtime));
  napi_value supported;
  CHECK_NAPI(env, napi_create_function(env, "isOutputFormatSupported", NAPI_AUTO_LENGTH, IsOutputFormatSupported, nullptr, &supported));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "isOutputFormatSupported", supported));
  napi_value tune;
  CHECK_NAPI(env, napi_create_function(env, "tuneMalloc", NAPI_AUTO_LENGTH, TuneMalloc, nullptr, &tune));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "tuneMalloc", tune));
  napi_value trim;
  CHECK_NAPI(env, napi_create_function(env, "trimMalloc", NAPI_AUTO_LENGTH, TrimMalloc, nullptr, &trim));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "trimMalloc", trim));
  napi_value version;
  CHECK_NAPI(env, napi_create_string_utf8(env, Pa_GetVersionText(), NAPI_AUTO_LENGTH, &version));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "portAudioVersion", version));
  napi_value hasPulse;
#if defined(JAS_HAVE_PULSE)
  napi_value serverInfo;
  CHECK_NAPI(env, napi_create_function(env, "pulseServerInfo", NAPI_AUTO_LENGTH, PulseServerInfo, nullptr, &serverInfo));
  CHECK_NAPI(env, napi_set_named_property(env, exports, "pulseServerInfo", serverInfo));
  CHECK_NAPI(env, napi_get_boolean(env, true, &hasPulse));
#else
  CHECK_NAPI(env, napi_get_boolean(env, false, &hasPulse));
#endif
  CHECK_NAPI(env, napi_set_named_property(env, exports, "hasPulse", hasPulse));
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
