// One PulseAudio playback stream through libpulse itself (not PortAudio's ALSA `pulse` device),
// fed from the shared PCM ring, one DAC timing entry per buffer.
//
// Why a second backend: through the ALSA plugin, the reported DAC time is libpulse's *smoothed*
// latency estimate, which ramps for ~10 s after a stream opens and wanders by tens to hundreds of
// µs while the audio runs at a constant rate (docs/audio-output.md). Here every entry comes from
// the server's raw timing reply instead: at server time T the stream's read index was R and the
// sink needed S more to play it, so stream frame F leaves the sink at T + S + (F - R) / rate. A
// null sink's figures are exact state (its render clock), so the mapping only moves when the audio
// does.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "output-backend.h"

struct pa_threaded_mainloop;
struct pa_context;
struct pa_stream;
struct pa_time_event;
struct pa_mainloop_api;

namespace jas {

struct PulseServerInfo {
  std::string serverName;     // "pulseaudio", or "PulseAudio (on PipeWire 0.3.65)"
  std::string serverVersion;
  std::string defaultSink;
};

// Connects to the PulseAudio server this process would use ($PULSE_SERVER, the user's runtime
// dir), asks what it is, and disconnects; bounded by timeoutMs. Empty string on success.
std::string QueryPulseServer(int timeoutMs, PulseServerInfo* out);

class PulseOutputStream final : public OutputBackend {
 public:
  PulseOutputStream() = default;
  ~PulseOutputStream() override;
  PulseOutputStream(const PulseOutputStream&) = delete;
  PulseOutputStream& operator=(const PulseOutputStream&) = delete;

  std::string Open(const OutputStreamConfig& config) override;
  std::string Start() override;
  std::string Stop() override;
  std::string Close() override;
  void AbortForExit() override;
  bool IsOpen() const override;
  double OutputLatencyS() const override;
  double SampleRate() const override;
  std::string DeviceName() const override;
  OutputStreamStats Stats() const override;
  int CallbackTid() const override { return callbackTid_.load(std::memory_order_relaxed); }

 private:
  static void OnContextState(pa_context* context, void* self);
  static void OnStreamState(pa_stream* stream, void* self);
  static void OnWriteRequest(pa_stream* stream, size_t nbytes, void* self);
  static void OnUnderflow(pa_stream* stream, void* self);
  static void OnOverflow(pa_stream* stream, void* self);
  static void OnTimelineBroken(pa_stream* stream, void* self);
  // "PulseAudio sink <name>" for DeviceName(); any thread.
  void SetDeviceName(const char* sinkName);
  static void OnTimingReply(pa_stream* stream, int success, void* self);
  static void OnTimer(pa_mainloop_api* api, pa_time_event* event, const struct timeval* tv, void* self);
  static void OnDeadline(pa_mainloop_api* api, pa_time_event* event, const struct timeval* tv, void* self);

  // Mainloop thread (or with the mainloop lock held).
  void WriteRequested(size_t nbytes);
  void RequestTiming();
  void TakeTiming();
  bool AnchorsAgree(int64_t frameA, int64_t monoA, int64_t frameB, int64_t monoB) const;
  void CheckThread();
  // Waits (mainloop lock held) until `done` is true or `timeoutMs` passed; false on timeout.
  template <typename Done>
  bool WaitFor(Done done, int timeoutMs);
  std::string ContextError(const std::string& what) const;
  std::string CloseLocked();

  mutable std::mutex control_;  // open/start/stop/close from JS vs. process exit
  OutputStreamConfig config_;
  pa_threaded_mainloop* loop_ = nullptr;
  pa_context* context_ = nullptr;
  pa_stream* stream_ = nullptr;
  pa_time_event* timer_ = nullptr;
  mutable std::mutex nameMutex_;  // deviceName_ changes on the mainloop thread when the stream moves
  std::string deviceName_;
  double latencyS_ = 0;
  size_t frameBytes_ = 4;
  int64_t chunkFrames_ = 256;
  std::vector<int16_t> scratch_;  // one buffer, allocated at open: the write path never allocates

  // Mainloop-thread state.
  int64_t deviceFrame_ = 0;      // frames written to the stream so far (its write index / frame)
  bool timingPending_ = false;
  bool deadlinePassed_ = false;
  // The newest usable raw timing reply: stream frame anchorFrame_ leaves the sink at anchorMonoNs_
  // (CLOCK_MONOTONIC).
  bool anchorValid_ = false;
  int64_t anchorFrame_ = 0;
  int64_t anchorMonoNs_ = 0;
  // A reply that disagreed with the anchor, waiting for the next one to confirm it.
  bool havePending_ = false;
  int64_t pendingFrame_ = 0;
  int64_t pendingMonoNs_ = 0;

  // Between Start() and Stop(): the write requests take the ring; otherwise they write silence.
  std::atomic<bool> consuming_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> ready_{false};
  // Set before a stop or close: from then on a write request touches no ring (as in OutputStream).
  std::atomic<bool> detached_{false};
  OutputCounters counters_;
  std::atomic<bool> threadChecked_{false};
  std::atomic<int> callbackTid_{0};
};

}  // namespace jas
