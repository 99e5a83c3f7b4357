// One PortAudio output stream fed from a shared PCM ring, writing one DAC timing entry per
// callback (the OutputBackend over PortAudio). Knows nothing about JavaScript: addon.cc owns the N-API side and keeps the shared
// memory alive for as long as this object can touch it.
#pragma once

#include <portaudio.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "output-backend.h"

namespace jas {

class OutputStream final : public OutputBackend {
 public:
  OutputStream() = default;
  ~OutputStream() override;
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;

  // Each returns an empty string on success, otherwise a message for a JS Error.
  std::string Open(const OutputStreamConfig& config) override;
  std::string Start() override;
  std::string Stop() override;
  std::string Close() override;
  void AbortForExit() override;

  bool IsOpen() const override { return stream_ != nullptr; }
  double OutputLatencyS() const override;
  double SampleRate() const override;
  std::string DeviceName() const override;
  OutputStreamStats Stats() const override;
  // Lock-free: usable while a close hangs. 0 before the first callback.
  int CallbackTid() const override { return callbackTid_.load(std::memory_order_relaxed); }

 private:
  static int Callback(const void* input, void* output, unsigned long frames,
                      const PaStreamCallbackTimeInfo* timeInfo, PaStreamCallbackFlags flags,
                      void* self);
  int OnBuffer(int16_t* out, unsigned long frames, const PaStreamCallbackTimeInfo* timeInfo,
               PaStreamCallbackFlags flags);
  std::string CloseLocked();

  mutable std::mutex control_;  // start/stop/close from JS vs. process exit; never taken by the callback
  PaStream* stream_ = nullptr;
  OutputStreamConfig config_;
  std::string deviceName_;
  bool realtimeEnabled_ = false;
  int64_t fallbackLatencyNs_ = 0;

  // Written only by the callback thread; read by Stats() from the JS thread.
  int64_t deviceFrame_ = 0;  // callback-thread private
  OutputCounters counters_;
  // Whether the callback thread really runs SCHED_FIFO/RR (PortAudio falls back silently).
  std::atomic<bool> schedChecked_{false};
  // Set before a stop or close asks PortAudio to end the stream: from then on the callback plays
  // silence and ends the stream itself, and never touches the rings again. After the audio server
  // died, PortAudio's ALSA thread can spin through a close and resume calling back once the server
  // is back; without this it read the ring beside the reopened stream (audio doubled, 0 dBFS).
  std::atomic<bool> detached_{false};
  // Kernel thread id of PortAudio's callback thread (0 before the first callback).
  std::atomic<int> callbackTid_{0};
};

}  // namespace jas
