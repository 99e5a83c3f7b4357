// One PortAudio output stream fed from a shared PCM ring, writing one DAC timing entry per
// callback. Knows nothing about JavaScript: addon.cc owns the N-API side and keeps the shared
// memory alive for as long as this object can touch it.
#pragma once

#include <portaudio.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "shared-rings.h"

namespace jas {

struct OutputStreamConfig {
  PaDeviceIndex device = paNoDevice;
  double sampleRate = 48000;
  int channels = 2;
  unsigned long framesPerBuffer = 256;
  double suggestedLatencyS = 0;  // <= 0: the device's default low latency
  bool realtime = true;          // ask for SCHED_FIFO on ALSA; falls back silently
  PcmRingView pcm;
  TimingRingView timing;
};

struct OutputStreamStats {
  int64_t callbacks;
  int64_t framesPlayed;
  int64_t underrunEvents;
  int64_t underrunFrames;
  int64_t outputUnderflowFlags;
  int64_t outputOverflowFlags;
  int64_t primingOutputFlags;
  int64_t timeFallbacks;
  int64_t lastDacDelayNs;
  bool active;
  bool realtime;  // the callback thread was seen running with a real-time policy
};

class OutputStream {
 public:
  OutputStream() = default;
  ~OutputStream();
  OutputStream(const OutputStream&) = delete;
  OutputStream& operator=(const OutputStream&) = delete;

  // Each returns an empty string on success, otherwise a message for a JS Error.
  std::string Open(const OutputStreamConfig& config);
  std::string Start();
  std::string Stop();
  std::string Close();
  void AbortForExit();

  bool IsOpen() const { return stream_ != nullptr; }
  double OutputLatencyS() const;
  double SampleRate() const;
  std::string DeviceName() const;
  OutputStreamStats Stats() const;
  // Lock-free: usable while a close hangs. 0 before the first callback.
  int CallbackTid() const { return callbackTid_.load(std::memory_order_relaxed); }

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
  std::atomic<int64_t> callbacks_{0};
  std::atomic<int64_t> underrunEvents_{0};
  std::atomic<int64_t> underrunFrames_{0};
  std::atomic<int64_t> outputUnderflowFlags_{0};
  std::atomic<int64_t> outputOverflowFlags_{0};
  std::atomic<int64_t> primingOutputFlags_{0};
  std::atomic<int64_t> timeFallbacks_{0};
  std::atomic<int64_t> lastDacDelayNs_{0};
  std::atomic<int64_t> framesPlayed_{0};
  // Whether the callback thread really runs SCHED_FIFO/RR (PortAudio falls back silently).
  std::atomic<bool> schedChecked_{false};
  // Set before a stop or close asks PortAudio to end the stream: from then on the callback plays
  // silence and ends the stream itself, and never touches the rings again. After the audio server
  // died, PortAudio's ALSA thread can spin through a close and resume calling back once the server
  // is back; without this it read the ring beside the reopened stream (audio doubled, 0 dBFS).
  std::atomic<bool> detached_{false};
  // Kernel thread id of PortAudio's callback thread (0 before the first callback).
  std::atomic<int> callbackTid_{0};
  std::atomic<bool> realtimeActive_{false};
};

}  // namespace jas
