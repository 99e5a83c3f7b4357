// Byte layout of the PCM ring and the DAC timing ring (docs/audio-shared-memory.md) and the
// real-time-safe operations the sink side performs on them: no allocation, no locks, no syscalls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace jas {

constexpr size_t kHeaderBytes = 64;

// PCM ring header offsets (bytes).
constexpr size_t kPcmWritePos = 0;
constexpr size_t kPcmReadPos = 8;
constexpr size_t kPcmUnderrunFrames = 16;
constexpr size_t kPcmUnderrunEvents = 24;
constexpr size_t kPcmChannels = 32;
constexpr size_t kPcmCapacityFrames = 36;
constexpr size_t kPcmSampleFormat = 40;
constexpr size_t kPcmSampleRate = 44;
constexpr int32_t kSampleFormatInt16 = 0;

// Timing ring header offsets (bytes) and entry size.
constexpr size_t kTimingCount = 0;
constexpr size_t kTimingCapacity = 8;
constexpr size_t kTimingEntryBytes = 32;
// Readers treat entries within 16 of being overwritten as invalid; keep a margin beyond that.
constexpr int32_t kTimingMinCapacity = 32;

static_assert(__atomic_always_lock_free(sizeof(int64_t), 0), "int64 atomics must be lock-free");

inline int64_t* At64(uint8_t* base, size_t offset) {
  return reinterpret_cast<int64_t*>(base + offset);
}
inline int32_t* At32(uint8_t* base, size_t offset) {
  return reinterpret_cast<int32_t*>(base + offset);
}
inline int64_t LoadAcquire(const int64_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline int64_t LoadRelaxed(const int64_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
inline void StoreRelease(int64_t* p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
inline void StoreRelaxed(int64_t* p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
inline int32_t Load32(const int32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

// A validated view of a PCM ring; the memory belongs to a SharedArrayBuffer kept alive elsewhere.
struct PcmRingView {
  uint8_t* base = nullptr;
  int64_t capacityFrames = 0;
  int32_t channels = 0;

  int16_t* Data() const { return reinterpret_cast<int16_t*>(base + kHeaderBytes); }

  // Consumer side of one device buffer: copies up to `frames` frames into `out`, zero-fills the
  // rest and counts it as underrun. Returns the ring readPos at the start of this buffer.
  int64_t Consume(int16_t* out, int64_t frames, int64_t* copiedFrames) const {
    int64_t* writePosPtr = At64(base, kPcmWritePos);
    int64_t* readPosPtr = At64(base, kPcmReadPos);
    const int64_t writePos = LoadAcquire(writePosPtr);
    const int64_t readPos = LoadRelaxed(readPosPtr);  // we are its only writer
    int64_t avail = writePos - readPos;
    // A producer that overran the ring or moved backwards is a bug; never read past the ring.
    if (avail < 0) avail = 0;
    if (avail > capacityFrames) avail = capacityFrames;
    const int64_t copy = avail < frames ? avail : frames;
    const int64_t start = readPos % capacityFrames;
    const int64_t first = copy < capacityFrames - start ? copy : capacityFrames - start;
    const size_t frameBytes = static_cast<size_t>(channels) * sizeof(int16_t);
    if (first > 0) {
      std::memcpy(out, Data() + start * channels, static_cast<size_t>(first) * frameBytes);
    }
    if (copy > first) {
      std::memcpy(out + first * channels, Data(), static_cast<size_t>(copy - first) * frameBytes);
    }
    if (copy < frames) {
      std::memset(out + copy * channels, 0, static_cast<size_t>(frames - copy) * frameBytes);
      int64_t* uf = At64(base, kPcmUnderrunFrames);
      int64_t* ue = At64(base, kPcmUnderrunEvents);
      StoreRelease(uf, LoadRelaxed(uf) + (frames - copy));
      StoreRelease(ue, LoadRelaxed(ue) + 1);
    }
    StoreRelease(readPosPtr, readPos + copy);
    *copiedFrames = copy;
    return readPos;
  }
};

struct TimingRingView {
  uint8_t* base = nullptr;
  int64_t capacity = 0;

  // Producer side: the entry is complete before `count` moves (release), as readers expect.
  void Append(int64_t deviceFrame, int64_t ringPos, int64_t dacTimeNs, int64_t callbackTimeNs) const {
    int64_t* countPtr = At64(base, kTimingCount);
    const int64_t count = LoadRelaxed(countPtr);  // we are its only writer
    int64_t* entry = At64(base, kHeaderBytes + static_cast<size_t>(count % capacity) * kTimingEntryBytes);
    StoreRelaxed(entry + 0, deviceFrame);
    StoreRelaxed(entry + 1, ringPos);
    StoreRelaxed(entry + 2, dacTimeNs);
    StoreRelaxed(entry + 3, callbackTimeNs);
    StoreRelease(countPtr, count + 1);
  }
};

}  // namespace jas
