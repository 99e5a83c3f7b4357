// What every native output backend offers the N-API layer: open a device stream that consumes the
// shared PCM ring and appends one DAC timing entry per buffer (docs/audio-shared-memory.md).
// Two backends: PortAudio (output-stream.h) and PulseAudio's own client library
// (pulse-output-stream.h), which reads the server's raw timing instead of the ALSA plugin's
// smoothed estimate.
#pragma once

#include <portaudio.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "shared-rings.h"

namespace jas {

enum class OutputApi { kPortAudio, kPulse };

struct OutputStreamConfig {
  OutputApi api = OutputApi::kPortAudio;
  PaDeviceIndex device = paNoDevice;  // PortAudio only
  std::string pulseSink;              // PulseAudio only: sink name; empty = the server's default (or $PULSE_SINK)
  double sampleRate = 48000;
  int channels = 2;
  unsigned long framesPerBuffer = 256;
  double suggestedLatencyS = 0;  // <= 0: the device's default low latency
  bool realtime = true;          // ask for SCHED_FIFO on the callback thread; falls back silently
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

// The counters both backends keep, written lock-free by their audio thread and read by Stats().
struct OutputCounters {
  std::atomic<int64_t> callbacks{0};
  std::atomic<int64_t> framesPlayed{0};
  std::atomic<int64_t> underrunEvents{0};
  std::atomic<int64_t> underrunFrames{0};
  std::atomic<int64_t> outputUnderflowFlags{0};
  std::atomic<int64_t> outputOverflowFlags{0};
  std::atomic<int64_t> primingOutputFlags{0};
  std::atomic<int64_t> timeFallbacks{0};
  std::atomic<int64_t> lastDacDelayNs{0};
  std::atomic<bool> realtime{false};  // the callback thread was seen running with a real-time policy

  // Everything but `active`, which each backend judges its own way.
  OutputStreamStats Snapshot() const {
    OutputStreamStats s{};
    s.callbacks = callbacks.load(std::memory_order_relaxed);
    s.framesPlayed = framesPlayed.load(std::memory_order_relaxed);
    s.underrunEvents = underrunEvents.load(std::memory_order_relaxed);
    s.underrunFrames = underrunFrames.load(std::memory_order_relaxed);
    s.outputUnderflowFlags = outputUnderflowFlags.load(std::memory_order_relaxed);
    s.outputOverflowFlags = outputOverflowFlags.load(std::memory_order_relaxed);
    s.primingOutputFlags = primingOutputFlags.load(std::memory_order_relaxed);
    s.timeFallbacks = timeFallbacks.load(std::memory_order_relaxed);
    s.lastDacDelayNs = lastDacDelayNs.load(std::memory_order_relaxed);
    s.realtime = realtime.load(std::memory_order_relaxed);
    return s;
  }
};

class OutputBackend {
 public:
  virtual ~OutputBackend() = default;
  // Each returns an empty string on success, otherwise a message for a JS Error.
  virtual std::string Open(const OutputStreamConfig& config) = 0;
  virtual std::string Start() = 0;
  virtual std::string Stop() = 0;
  virtual std::string Close() = 0;
  virtual void AbortForExit() = 0;
  virtual bool IsOpen() const = 0;
  virtual double OutputLatencyS() const = 0;
  virtual double SampleRate() const = 0;
  virtual std::string DeviceName() const = 0;
  virtual OutputStreamStats Stats() const = 0;
  // Kernel thread id of the thread that calls back (0 before the first callback); lock-free.
  virtual int CallbackTid() const = 0;
};

}  // namespace jas
