// PulseAudio playback through libpulse's threaded mainloop (see pulse-output-stream.h).
#include "pulse-output-stream.h"

#include <pthread.h>
#include <pulse/pulseaudio.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "pa-runtime.h"

namespace jas {
namespace {

// Raw timing replies asked for this often: each is one small round trip to the server. Entries
// between two replies extrapolate the newer one at the nominal rate (20 ms x 100 ppm = 2 µs).
constexpr pa_usec_t kTimingPeriodUs = 20'000;
// Connecting to the server and creating the stream: bounded, so a hung server fails the open (the
// output supervisor retries) instead of hanging the member.
constexpr int kConnectTimeoutMs = 3000;
// SCHED_FIFO priority of the mainloop thread that writes the stream: just above the engine worker
// (10) and the capture sink (11) that feed the ring, far below audio servers' own threads.
constexpr int kRealtimePriority = 12;
constexpr double kDefaultLatencyS = 0.05;
// Two timing replies agree when they put the same frame within this of each other: far above a
// quiet reply's scatter (a few µs) and a loaded one's (tens, rarely hundreds of µs), far below any
// real move of the timeline (a lost block, a suspend: milliseconds).
constexpr double kAnchorAgreeNs = 500'000;

int64_t ClockNs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

}  // namespace

std::string QueryPulseServer(int timeoutMs, PulseServerInfo* out) {
  struct Probe {
    PulseServerInfo* out;
    bool done = false;
    bool timedOut = false;
    std::string error;
  } probe{out, false, false, {}};
  pa_mainloop* loop = pa_mainloop_new();
  if (loop == nullptr) return "PulseAudio: cannot create a mainloop";
  pa_context* context = pa_context_new(pa_mainloop_get_api(loop), "JAudioSync probe");
  if (context == nullptr) {
    pa_mainloop_free(loop);
    return "PulseAudio: cannot create a context";
  }
  pa_context_set_state_callback(
      context,
      [](pa_context* c, void* userdata) {
        auto* p = static_cast<Probe*>(userdata);
        const pa_context_state_t state = pa_context_get_state(c);
        if (state == PA_CONTEXT_READY) {
          pa_operation* op = pa_context_get_server_info(
              c,
              [](pa_context*, const pa_server_info* info, void* u) {
                auto* q = static_cast<Probe*>(u);
                if (info != nullptr) {
                  q->out->serverName = info->server_name != nullptr ? info->server_name : "";
                  q->out->serverVersion = info->server_version != nullptr ? info->server_version : "";
                  q->out->defaultSink = info->default_sink_name != nullptr ? info->default_sink_name : "";
                } else {
                  q->error = "PulseAudio: no server info";
                }
                q->done = true;
              },
              p);
          if (op != nullptr) pa_operation_unref(op);
          else {
            p->error = std::string("PulseAudio: server info: ") + pa_strerror(pa_context_errno(c));
            p->done = true;
          }
        } else if (!PA_CONTEXT_IS_GOOD(state)) {
          p->error = std::string("PulseAudio: connect: ") + pa_strerror(pa_context_errno(c));
          p->done = true;
        }
      },
      &probe);
  pa_time_event* deadline = nullptr;
  if (pa_context_connect(context, nullptr, PA_CONTEXT_NOAUTOSPAWN, nullptr) < 0) {
    probe.error = std::string("PulseAudio: connect: ") + pa_strerror(pa_context_errno(context));
    probe.done = true;
  } else {
    deadline = pa_context_rttime_new(
        context, pa_rtclock_now() + static_cast<pa_usec_t>(timeoutMs) * 1000,
        [](pa_mainloop_api*, pa_time_event*, const struct timeval*, void* userdata) { static_cast<Probe*>(userdata)->timedOut = true; },
        &probe);
  }
  while (!probe.done && !probe.timedOut) {
    if (pa_mainloop_iterate(loop, 1, nullptr) < 0) break;
  }
  if (deadline != nullptr) pa_mainloop_get_api(loop)->time_free(deadline);
  pa_context_set_state_callback(context, nullptr, nullptr);
  pa_context_disconnect(context);
  pa_context_unref(context);
  pa_mainloop_free(loop);
  if (!probe.done) return "PulseAudio: no answer from the server within " + std::to_string(timeoutMs) + " ms";
  return probe.error;
}

PulseOutputStream::~PulseOutputStream() {
  std::lock_guard<std::mutex> lock(control_);
  CloseLocked();
}

std::string PulseOutputStream::ContextError(const std::string& what) const {
  const int err = context_ != nullptr ? pa_context_errno(context_) : PA_ERR_UNKNOWN;
  return "PulseAudio: " + what + ": " + pa_strerror(err);
}

template <typename Done>
bool PulseOutputStream::WaitFor(Done done, int timeoutMs) {
  deadlinePassed_ = false;
  pa_time_event* deadline = pa_context_rttime_new(context_, pa_rtclock_now() + static_cast<pa_usec_t>(timeoutMs) * 1000,
                                                  &PulseOutputStream::OnDeadline, this);
  while (!done() && !deadlinePassed_) pa_threaded_mainloop_wait(loop_);
  if (deadline != nullptr) pa_threaded_mainloop_get_api(loop_)->time_free(deadline);
  return done();
}

std::string PulseOutputStream::Open(const OutputStreamConfig& config) {
  std::lock_guard<std::mutex> lock(control_);
  if (loop_ != nullptr) return "stream is already open";
  config_ = config;
  frameBytes_ = static_cast<size_t>(config.channels) * sizeof(int16_t);
  chunkFrames_ = config.framesPerBuffer > 0 ? static_cast<int64_t>(config.framesPerBuffer) : 256;
  scratch_.assign(static_cast<size_t>(chunkFrames_) * static_cast<size_t>(config.channels), 0);
  deviceFrame_ = 0;
  anchorValid_ = false;
  havePending_ = false;
  timingPending_ = false;
  consuming_.store(false);
  failed_.store(false);
  ready_.store(false);
  detached_.store(false);

  pa_sample_spec spec{};
  spec.format = PA_SAMPLE_S16LE;
  spec.rate = static_cast<uint32_t>(std::lround(config.sampleRate));
  spec.channels = static_cast<uint8_t>(config.channels);
  if (!pa_sample_spec_valid(&spec)) return "PulseAudio: invalid sample spec (rate or channels)";
  pa_channel_map map;
  if (pa_channel_map_init_auto(&map, spec.channels, PA_CHANNEL_MAP_DEFAULT) == nullptr) {
    return "PulseAudio: no default channel map for " + std::to_string(config.channels) + " channels";
  }

  loop_ = pa_threaded_mainloop_new();
  if (loop_ == nullptr) return "PulseAudio: cannot create a mainloop";
  context_ = pa_context_new(pa_threaded_mainloop_get_api(loop_), "JAudioSync member");
  if (context_ == nullptr) {
    CloseLocked();
    return "PulseAudio: cannot create a context";
  }
  pa_context_set_state_callback(context_, &PulseOutputStream::OnContextState, this);
  // Never autospawn: a member must not start a server of its own beside the system's.
  if (pa_context_connect(context_, nullptr, PA_CONTEXT_NOAUTOSPAWN, nullptr) < 0) {
    std::string err = ContextError("connect");
    CloseLocked();
    return err;
  }
  if (pa_threaded_mainloop_start(loop_) < 0) {
    CloseLocked();
    return "PulseAudio: cannot start the mainloop thread";
  }

  pa_threaded_mainloop_lock(loop_);
  auto contextSettled = [this] {
    const pa_context_state_t s = pa_context_get_state(context_);
    return s == PA_CONTEXT_READY || !PA_CONTEXT_IS_GOOD(s);
  };
  WaitFor(contextSettled, kConnectTimeoutMs);
  if (pa_context_get_state(context_) != PA_CONTEXT_READY) {
    std::string err = contextSettled() ? ContextError("connect") : "PulseAudio: no answer from the server within 3 s";
    pa_threaded_mainloop_unlock(loop_);
    CloseLocked();
    return err;
  }

  stream_ = pa_stream_new(context_, "JAudioSync", &spec, &map);
  if (stream_ == nullptr) {
    std::string err = ContextError("new stream");
    pa_threaded_mainloop_unlock(loop_);
    CloseLocked();
    return err;
  }
  pa_stream_set_state_callback(stream_, &PulseOutputStream::OnStreamState, this);
  pa_stream_set_write_callback(stream_, &PulseOutputStream::OnWriteRequest, this);
  pa_stream_set_underflow_callback(stream_, &PulseOutputStream::OnUnderflow, this);
  pa_stream_set_overflow_callback(stream_, &PulseOutputStream::OnOverflow, this);
  pa_stream_set_suspended_callback(stream_, &PulseOutputStream::OnTimelineBroken, this);
  pa_stream_set_moved_callback(stream_, &PulseOutputStream::OnTimelineBroken, this);

  const double latencyS = config.suggestedLatencyS > 0 ? config.suggestedLatencyS : kDefaultLatencyS;
  pa_buffer_attr attr{};
  attr.maxlength = static_cast<uint32_t>(-1);
  attr.tlength = static_cast<uint32_t>(std::lround(latencyS * spec.rate)) * static_cast<uint32_t>(frameBytes_);
  // No prebuffering: the server never stops the stream on an underrun, it plays silence and its
  // read index runs on, so stream frame F keeps its instant (a late write is dropped, not delayed),
  // like a DAC that never stops.
  attr.prebuf = 0;
  attr.minreq = static_cast<uint32_t>(chunkFrames_) * static_cast<uint32_t>(frameBytes_);
  attr.fragsize = static_cast<uint32_t>(-1);
  // Never corked: it plays silence until Start() and after Stop(), so its timeline (and the timing
  // anchor) runs on without a break, as a DAC's does.
  const pa_stream_flags_t flags = PA_STREAM_ADJUST_LATENCY;
  const char* sink = config.pulseSink.empty() ? nullptr : config.pulseSink.c_str();
  if (pa_stream_connect_playback(stream_, sink, &attr, flags, nullptr, nullptr) < 0) {
    std::string err = ContextError(sink != nullptr ? "connect to sink '" + config.pulseSink + "'" : "connect playback");
    pa_threaded_mainloop_unlock(loop_);
    CloseLocked();
    return err;
  }
  auto streamSettled = [this] {
    const pa_stream_state_t s = pa_stream_get_state(stream_);
    return s == PA_STREAM_READY || !PA_STREAM_IS_GOOD(s);
  };
  WaitFor(streamSettled, kConnectTimeoutMs);
  if (pa_stream_get_state(stream_) != PA_STREAM_READY) {
    std::string err = streamSettled() ? ContextError(sink != nullptr ? "open sink '" + config.pulseSink + "'" : "open the default sink")
                                      : "PulseAudio: the stream was not ready within 3 s";
    pa_threaded_mainloop_unlock(loop_);
    CloseLocked();
    return err;
  }
  SetDeviceName(pa_stream_get_device_name(stream_));
  const pa_buffer_attr* granted = pa_stream_get_buffer_attr(stream_);
  latencyS_ = granted != nullptr ? static_cast<double>(granted->tlength) / static_cast<double>(frameBytes_) / spec.rate : latencyS;
  ready_.store(true);
  timer_ = pa_context_rttime_new(context_, pa_rtclock_now() + kTimingPeriodUs, &PulseOutputStream::OnTimer, this);
  pa_threaded_mainloop_unlock(loop_);
  RegisterStream(this);
  return "";
}

std::string PulseOutputStream::Start() {
  std::lock_guard<std::mutex> lock(control_);
  if (loop_ == nullptr || stream_ == nullptr) return "stream is closed";
  if (failed_.load()) return "PulseAudio: the stream failed (server or sink gone)";
  detached_.store(false, std::memory_order_release);
  consuming_.store(true, std::memory_order_release);
  return "";
}

// The stream keeps running with silence (its timeline, and so the timing anchors, stay valid);
// only the ring is left alone, as PortAudio's abort leaves it.
std::string PulseOutputStream::Stop() {
  consuming_.store(false, std::memory_order_release);
  std::lock_guard<std::mutex> lock(control_);
  return loop_ == nullptr || stream_ == nullptr ? "stream is closed" : "";
}

std::string PulseOutputStream::Close() {
  detached_.store(true, std::memory_order_release);
  std::lock_guard<std::mutex> lock(control_);
  return CloseLocked();
}

void PulseOutputStream::AbortForExit() {
  std::unique_lock<std::mutex> lock(control_, std::try_to_lock);
  if (lock.owns_lock()) CloseLocked();
}

std::string PulseOutputStream::CloseLocked() {
  detached_.store(true, std::memory_order_release);
  if (loop_ == nullptr) return "";
  pa_threaded_mainloop_lock(loop_);
  if (timer_ != nullptr) {
    pa_threaded_mainloop_get_api(loop_)->time_free(timer_);
    timer_ = nullptr;
  }
  if (stream_ != nullptr) {
    pa_stream_set_state_callback(stream_, nullptr, nullptr);
    pa_stream_set_write_callback(stream_, nullptr, nullptr);
    pa_stream_set_underflow_callback(stream_, nullptr, nullptr);
    pa_stream_set_overflow_callback(stream_, nullptr, nullptr);
    pa_stream_set_suspended_callback(stream_, nullptr, nullptr);
    pa_stream_set_moved_callback(stream_, nullptr, nullptr);
    // Asynchronous: never waits on a server that may be gone.
    if (PA_STREAM_IS_GOOD(pa_stream_get_state(stream_))) pa_stream_disconnect(stream_);
    pa_stream_unref(stream_);
    stream_ = nullptr;
  }
  if (context_ != nullptr) {
    pa_context_set_state_callback(context_, nullptr, nullptr);
    pa_context_disconnect(context_);
    pa_context_unref(context_);
    context_ = nullptr;
  }
  pa_threaded_mainloop_unlock(loop_);
  pa_threaded_mainloop_stop(loop_);
  pa_threaded_mainloop_free(loop_);
  loop_ = nullptr;
  ready_.store(false);
  UnregisterStream(this);
  return "";
}

bool PulseOutputStream::IsOpen() const {
  std::lock_guard<std::mutex> lock(control_);
  return loop_ != nullptr;
}

double PulseOutputStream::OutputLatencyS() const {
  std::lock_guard<std::mutex> lock(control_);
  return loop_ != nullptr ? latencyS_ : 0;
}

double PulseOutputStream::SampleRate() const {
  std::lock_guard<std::mutex> lock(control_);
  return config_.sampleRate;  // the server resamples to its sink's rate
}

std::string PulseOutputStream::DeviceName() const {
  std::lock_guard<std::mutex> lock(nameMutex_);
  return deviceName_;
}

OutputStreamStats PulseOutputStream::Stats() const {
  std::lock_guard<std::mutex> lock(control_);
  OutputStreamStats s = counters_.Snapshot();
  s.active = loop_ != nullptr && ready_.load() && !failed_.load() && consuming_.load();
  return s;
}

// ---- mainloop thread ----

void PulseOutputStream::OnContextState(pa_context* context, void* self) {
  auto* s = static_cast<PulseOutputStream*>(self);
  if (!PA_CONTEXT_IS_GOOD(pa_context_get_state(context))) s->failed_.store(true);  // the server went away
  pa_threaded_mainloop_signal(s->loop_, 0);
}

void PulseOutputStream::OnStreamState(pa_stream* stream, void* self) {
  auto* s = static_cast<PulseOutputStream*>(self);
  // FAILED or TERMINATED while we did not disconnect: the sink was unloaded, or the server died.
  if (!PA_STREAM_IS_GOOD(pa_stream_get_state(stream))) s->failed_.store(true);
  pa_threaded_mainloop_signal(s->loop_, 0);
}

void PulseOutputStream::OnUnderflow(pa_stream*, void* self) {
  static_cast<PulseOutputStream*>(self)->counters_.outputUnderflowFlags.fetch_add(1, std::memory_order_relaxed);
}

void PulseOutputStream::OnOverflow(pa_stream*, void* self) {
  static_cast<PulseOutputStream*>(self)->counters_.outputOverflowFlags.fetch_add(1, std::memory_order_relaxed);
}

// Suspended, resumed, or moved to another sink: the old anchor describes a timeline that no longer
// holds. Entries wait for the next reply (<= 20 ms) instead of mapping frames through it.
void PulseOutputStream::OnTimelineBroken(pa_stream* stream, void* self) {
  auto* s = static_cast<PulseOutputStream*>(self);
  s->anchorValid_ = false;
  s->havePending_ = false;
  const char* name = pa_stream_get_device_name(stream);
  if (name != nullptr) s->SetDeviceName(name);
}

void PulseOutputStream::SetDeviceName(const char* sinkName) {
  std::lock_guard<std::mutex> lock(nameMutex_);
  deviceName_ = std::string("PulseAudio sink ") + (sinkName != nullptr ? sinkName : "?");
}

void PulseOutputStream::OnDeadline(pa_mainloop_api*, pa_time_event*, const struct timeval*, void* self) {
  auto* s = static_cast<PulseOutputStream*>(self);
  s->deadlinePassed_ = true;
  pa_threaded_mainloop_signal(s->loop_, 0);
}

void PulseOutputStream::OnTimer(pa_mainloop_api*, pa_time_event* event, const struct timeval*, void* self) {
  auto* s = static_cast<PulseOutputStream*>(self);
  s->RequestTiming();
  pa_context_rttime_restart(s->context_, event, pa_rtclock_now() + kTimingPeriodUs);
}

void PulseOutputStream::RequestTiming() {
  if (stream_ == nullptr || timingPending_ || pa_stream_get_state(stream_) != PA_STREAM_READY) return;
  pa_operation* op = pa_stream_update_timing_info(stream_, &PulseOutputStream::OnTimingReply, this);
  if (op == nullptr) return;
  timingPending_ = true;
  pa_operation_unref(op);
}

void PulseOutputStream::OnTimingReply(pa_stream*, int success, void* self) {
  auto* s = static_cast<PulseOutputStream*>(self);
  s->timingPending_ = false;
  if (success) s->TakeTiming();
}

void PulseOutputStream::TakeTiming() {
  if (pa_stream_is_suspended(stream_) == 1) return;
  const pa_timing_info* info = pa_stream_get_timing_info(stream_);
  if (info == nullptr || info->read_index_corrupt || info->read_index < 0) return;
  // info->timestamp is CLOCK_REALTIME: the server's own clock when it sampled the stream (or, when
  // the two clocks disagree, e.g. under libfaketime, ours at the request plus half the round trip).
  // Only its distance from our realtime now matters, carried over to CLOCK_MONOTONIC.
  const int64_t realNs = ClockNs(CLOCK_REALTIME);
  const int64_t monoNs = ClockNs(CLOCK_MONOTONIC);
  const int64_t stampNs = static_cast<int64_t>(info->timestamp.tv_sec) * 1000000000LL +
                          static_cast<int64_t>(info->timestamp.tv_usec) * 1000LL;
  const int64_t frame = info->read_index / static_cast<int64_t>(frameBytes_);
  const int64_t playNs = monoNs - (realNs - stampNs) + static_cast<int64_t>(info->sink_usec) * 1000LL;
  // A reply that disagrees with the anchor in use is only believed once the next one agrees with
  // it: the first reply after a suspend was 9-11 ms off the timeline the next ones showed (a state
  // in passing), and the DAC clock took that for the step (bench:realpath --fault suspend).
  if (anchorValid_ && AnchorsAgree(anchorFrame_, anchorMonoNs_, frame, playNs)) {
    havePending_ = false;
  } else if (havePending_ && AnchorsAgree(pendingFrame_, pendingMonoNs_, frame, playNs)) {
    havePending_ = false;
  } else {
    pendingFrame_ = frame;
    pendingMonoNs_ = playNs;
    havePending_ = true;
    return;
  }
  anchorFrame_ = frame;
  anchorMonoNs_ = playNs;
  anchorValid_ = true;
}

bool PulseOutputStream::AnchorsAgree(int64_t frameA, int64_t monoA, int64_t frameB, int64_t monoB) const {
  const double expectedB = static_cast<double>(monoA) + static_cast<double>(frameB - frameA) * 1e9 / config_.sampleRate;
  return std::fabs(static_cast<double>(monoB) - expectedB) <= kAnchorAgreeNs;
}

void PulseOutputStream::CheckThread() {
  int policy = SCHED_OTHER;
  sched_param param{};
  callbackTid_.store(static_cast<int>(syscall(SYS_gettid)), std::memory_order_relaxed);
  if (config_.realtime) {
    param.sched_priority = kRealtimePriority;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);  // without permission: stays normal
  }
  if (pthread_getschedparam(pthread_self(), &policy, &param) == 0) {
    counters_.realtime.store(policy == SCHED_FIFO || policy == SCHED_RR, std::memory_order_relaxed);
  }
  threadChecked_.store(true, std::memory_order_relaxed);
}

void PulseOutputStream::OnWriteRequest(pa_stream*, size_t nbytes, void* self) {
  static_cast<PulseOutputStream*>(self)->WriteRequested(nbytes);
}

// No allocation on our side, no locks but libpulse's own, no calls into JS. Whole buffers of
// chunkFrames_ only: one timing entry per equal step of frames, as from PortAudio.
void PulseOutputStream::WriteRequested(size_t nbytes) {
  if (!threadChecked_.load(std::memory_order_relaxed)) CheckThread();
  const size_t chunkBytes = static_cast<size_t>(chunkFrames_) * frameBytes_;
  while (nbytes >= chunkBytes && stream_ != nullptr) {
    int16_t* out = scratch_.data();
    const int64_t monoNowNs = ClockNs(CLOCK_MONOTONIC);
    if (!consuming_.load(std::memory_order_acquire) || detached_.load(std::memory_order_acquire)) {
      // Before Start(), after Stop(), or while closing: silence, the ring untouched.
      std::memset(out, 0, chunkBytes);
    } else {
      int64_t copied = 0;
      const int64_t ringPos = config_.pcm.Consume(out, chunkFrames_, &copied);
      if (anchorValid_) {
        const int64_t dacNs = anchorMonoNs_ + std::llround(static_cast<double>(deviceFrame_ - anchorFrame_) * 1e9 / config_.sampleRate);
        // The entry maps the frames not yet played, as OutputStream's (docs/audio-shared-memory.md).
        config_.timing.Append(deviceFrame_, ringPos + copied - chunkFrames_, dacNs, monoNowNs);
        counters_.lastDacDelayNs.store(dacNs - monoNowNs, std::memory_order_relaxed);
      } else {
        counters_.timeFallbacks.fetch_add(1, std::memory_order_relaxed);  // no raw timing yet: no entry
      }
      if (copied < chunkFrames_) {
        counters_.underrunEvents.fetch_add(1, std::memory_order_relaxed);
        counters_.underrunFrames.fetch_add(chunkFrames_ - copied, std::memory_order_relaxed);
      }
      counters_.callbacks.fetch_add(1, std::memory_order_relaxed);
    }
    if (pa_stream_write(stream_, out, chunkBytes, nullptr, 0, PA_SEEK_RELATIVE) < 0) {
      failed_.store(true);
      return;
    }
    deviceFrame_ += chunkFrames_;
    counters_.framesPlayed.store(deviceFrame_, std::memory_order_relaxed);
    nbytes -= chunkBytes;
  }
}

}  // namespace jas
