// PortAudio output stream over the shared PCM/timing rings (see output-stream.h).
#include "output-stream.h"

#include <pa_linux_alsa.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include <cmath>
#include <cstring>

#include "pa-runtime.h"

namespace jas {
namespace {

int64_t MonotonicNowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

std::string Fail(const char* what, PaError err) {
  return std::string(what) + ": " + PaErrorMessage(err) + " (PortAudio error " + std::to_string(err) + ")";
}

}  // namespace

OutputStream::~OutputStream() {
  std::lock_guard<std::mutex> lock(control_);
  CloseLocked();
}

std::string OutputStream::Open(const OutputStreamConfig& config) {
  std::lock_guard<std::mutex> lock(control_);
  if (stream_ != nullptr) return "stream is already open";
  PaError err = EnsurePortAudio();
  if (err != paNoError) return Fail("Pa_Initialize", err);

  PaDeviceIndex device = config.device == paNoDevice ? Pa_GetDefaultOutputDevice() : config.device;
  if (device == paNoDevice || device < 0 || device >= Pa_GetDeviceCount()) {
    return "no such output device (index " + std::to_string(device) + ")";
  }
  const PaDeviceInfo* info = Pa_GetDeviceInfo(device);
  if (info == nullptr || info->maxOutputChannels < config.channels) {
    return "device " + std::to_string(device) + " cannot output " + std::to_string(config.channels) + " channels";
  }

  PaStreamParameters out{};
  out.device = device;
  out.channelCount = config.channels;
  out.sampleFormat = paInt16;
  out.suggestedLatency = config.suggestedLatencyS > 0 ? config.suggestedLatencyS : info->defaultLowOutputLatency;
  out.hostApiSpecificStreamInfo = nullptr;

  config_ = config;
  deviceFrame_ = 0;
  PaStream* stream = nullptr;
  // Dither/clip flags are irrelevant for int16 in, int16 out; disable them so PortAudio copies.
  err = Pa_OpenStream(&stream, nullptr, &out, config.sampleRate, config.framesPerBuffer,
                      paClipOff | paDitherOff, &OutputStream::Callback, this);
  if (err != paNoError) return Fail("Pa_OpenStream", err);
  stream_ = stream;
  deviceName_ = info->name != nullptr ? info->name : "";

  const PaHostApiInfo* api = Pa_GetHostApiInfo(info->hostApi);
  realtimeEnabled_ = config.realtime && api != nullptr && api->type == paALSA;
  if (realtimeEnabled_) PaAlsa_EnableRealtimeScheduling(stream_, 1);

  const PaStreamInfo* streamInfo = Pa_GetStreamInfo(stream_);
  fallbackLatencyNs_ = streamInfo != nullptr ? std::llround(streamInfo->outputLatency * 1e9) : 0;
  RegisterStream(this);
  return "";
}

std::string OutputStream::Start() {
  std::lock_guard<std::mutex> lock(control_);
  if (stream_ == nullptr) return "stream is closed";
  if (Pa_IsStreamActive(stream_) == 1) return "";
  schedChecked_.store(false, std::memory_order_relaxed);  // a start creates a new callback thread
  detached_.store(false, std::memory_order_release);
  PaError err = Pa_StartStream(stream_);
  if (err != paNoError && realtimeEnabled_) {
    // Without permission for SCHED_FIFO the callback thread cannot be created: run unprivileged.
    realtimeEnabled_ = false;
    PaAlsa_EnableRealtimeScheduling(stream_, 0);
    err = Pa_StartStream(stream_);
  }
  return err == paNoError ? "" : Fail("Pa_StartStream", err);
}

std::string OutputStream::Stop() {
  detached_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(control_);
  if (stream_ == nullptr) return "stream is closed";
  if (Pa_IsStreamStopped(stream_) == 1) return "";
  // Abort, not Pa_StopStream: the ring is the producer's business; nothing needs draining.
  PaError err = Pa_AbortStream(stream_);
  return err == paNoError ? "" : Fail("Pa_AbortStream", err);
}

std::string OutputStream::Close() {
  detached_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(control_);
  return CloseLocked();
}

std::string OutputStream::CloseLocked() {
  detached_.store(true, std::memory_order_release);
  if (stream_ == nullptr) return "";
  if (Pa_IsStreamStopped(stream_) != 1) Pa_AbortStream(stream_);
  PaError err = Pa_CloseStream(stream_);
  stream_ = nullptr;
  UnregisterStream(this);
  return err == paNoError ? "" : Fail("Pa_CloseStream", err);
}

void OutputStream::AbortForExit() {
  // try_lock: a close hanging in PortAudio (closeAsync's worker holds the lock) must not hang exit.
  std::unique_lock<std::mutex> lock(control_, std::try_to_lock);
  if (lock.owns_lock()) CloseLocked();
}

double OutputStream::OutputLatencyS() const {
  std::lock_guard<std::mutex> lock(control_);
  if (stream_ == nullptr) return 0;
  const PaStreamInfo* info = Pa_GetStreamInfo(stream_);
  return info != nullptr ? info->outputLatency : 0;
}

double OutputStream::SampleRate() const {
  std::lock_guard<std::mutex> lock(control_);
  if (stream_ == nullptr) return config_.sampleRate;
  const PaStreamInfo* info = Pa_GetStreamInfo(stream_);
  return info != nullptr ? info->sampleRate : config_.sampleRate;
}

std::string OutputStream::DeviceName() const {
  std::lock_guard<std::mutex> lock(control_);
  return deviceName_;
}

OutputStreamStats OutputStream::Stats() const {
  std::lock_guard<std::mutex> lock(control_);
  OutputStreamStats s = counters_.Snapshot();
  s.active = stream_ != nullptr && Pa_IsStreamActive(stream_) == 1;
  return s;
}

int OutputStream::Callback(const void*, void* output, unsigned long frames,
                           const PaStreamCallbackTimeInfo* timeInfo, PaStreamCallbackFlags flags,
                           void* self) {
  return static_cast<OutputStream*>(self)->OnBuffer(static_cast<int16_t*>(output), frames, timeInfo, flags);
}

// Real-time thread: no allocation, no locks, no calls into JS.
int OutputStream::OnBuffer(int16_t* out, unsigned long frames, const PaStreamCallbackTimeInfo* timeInfo,
                           PaStreamCallbackFlags flags) {
  if (detached_.load(std::memory_order_acquire)) {
    std::memset(out, 0, frames * static_cast<size_t>(config_.channels) * sizeof(int16_t));
    return paAbort;
  }
  const int64_t monoNowNs = MonotonicNowNs();
  if (!schedChecked_.load(std::memory_order_relaxed)) {
    // Once per thread: one cheap, non-blocking syscall.
    int policy = SCHED_OTHER;
    sched_param param{};
    callbackTid_.store(static_cast<int>(syscall(SYS_gettid)), std::memory_order_relaxed);
    if (pthread_getschedparam(pthread_self(), &policy, &param) == 0) {
      counters_.realtime.store(policy == SCHED_FIFO || policy == SCHED_RR, std::memory_order_relaxed);
    }
    schedChecked_.store(true, std::memory_order_relaxed);
  }
  // PortAudio 19.6 on ALSA uses CLOCK_REALTIME; only the difference dac - current is trusted, so
  // a wall-clock step can never move the audio timeline.
  int64_t delayNs;
  if (timeInfo != nullptr && timeInfo->outputBufferDacTime > 0 && timeInfo->currentTime > 0) {
    delayNs = std::llround((timeInfo->outputBufferDacTime - timeInfo->currentTime) * 1e9);
  } else {
    delayNs = fallbackLatencyNs_;
    counters_.timeFallbacks.fetch_add(1, std::memory_order_relaxed);
  }
  const int64_t n = static_cast<int64_t>(frames);
  int64_t copied = 0;
  const int64_t ringPos = config_.pcm.Consume(out, n, &copied);
  // The entry maps the frames not yet played: the next ring frame is device frame deviceFrame_ + n
  // (on a short buffer the silence counts as ring frames before it; docs/audio-shared-memory.md).
  config_.timing.Append(deviceFrame_, ringPos + copied - n, monoNowNs + delayNs, monoNowNs);
  deviceFrame_ += n;

  counters_.callbacks.fetch_add(1, std::memory_order_relaxed);
  counters_.framesPlayed.store(deviceFrame_, std::memory_order_relaxed);
  counters_.lastDacDelayNs.store(delayNs, std::memory_order_relaxed);
  if (copied < n) {
    counters_.underrunEvents.fetch_add(1, std::memory_order_relaxed);
    counters_.underrunFrames.fetch_add(n - copied, std::memory_order_relaxed);
  }
  if (flags & paOutputUnderflow) counters_.outputUnderflowFlags.fetch_add(1, std::memory_order_relaxed);
  if (flags & paOutputOverflow) counters_.outputOverflowFlags.fetch_add(1, std::memory_order_relaxed);
  if (flags & paPrimingOutput) counters_.primingOutputFlags.fetch_add(1, std::memory_order_relaxed);
  return paContinue;
}

}  // namespace jas
