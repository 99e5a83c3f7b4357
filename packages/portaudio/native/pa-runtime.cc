// Process-wide PortAudio state (see pa-runtime.h).
#include "pa-runtime.h"

#include <dlfcn.h>

#include <cstdarg>
#include <cstdlib>
#include <mutex>
#include <set>

#include "output-stream.h"

namespace jas {
namespace {

std::mutex gMutex;
bool gInitialized = false;
bool gAtExitRegistered = false;
std::set<OutputBackend*>* gStreams = nullptr;  // leaked on purpose: used from atexit

void QuietAlsa(const char*, int, const char*, int, const char*, ...) {}
void QuietJack(const char*) {}

// Pa_Initialize probes every ALSA PCM and tries to reach a JACK server, printing a screenful of
// harmless errors. Silence them unless JAS_PORTAUDIO_VERBOSE is set. Looked up at run time so we
// need neither library's headers nor a link against them; failures are harmless.
void SilenceProbingNoise() {
  const char* verbose = std::getenv("JAS_PORTAUDIO_VERBOSE");
  if (verbose != nullptr && verbose[0] != '\0' && verbose[0] != '0') return;
  if (void* alsa = dlopen("libasound.so.2", RTLD_LAZY | RTLD_NOLOAD)) {
    using Handler = void (*)(const char*, int, const char*, int, const char*, ...);
    using SetHandler = int (*)(Handler);
    if (auto set = reinterpret_cast<SetHandler>(dlsym(alsa, "snd_lib_error_set_handler"))) set(QuietAlsa);
    dlclose(alsa);
  }
  if (void* jack = dlopen("libjack.so.0", RTLD_LAZY | RTLD_NOLOAD)) {
    using SetFn = void (*)(void (*)(const char*));
    if (auto set = reinterpret_cast<SetFn>(dlsym(jack, "jack_set_error_function"))) set(QuietJack);
    if (auto set = reinterpret_cast<SetFn>(dlsym(jack, "jack_set_info_function"))) set(QuietJack);
    dlclose(jack);
  }
  // Never let PortAudio's JACK host API spawn a JACK server as a side effect of listing devices.
  setenv("JACK_NO_START_SERVER", "1", 0);
}

// Runs before shared libraries are finalized: stop real-time callbacks touching freed state.
void CloseAllAtExit() {
  std::set<OutputBackend*> streams;
  {
    std::lock_guard<std::mutex> lock(gMutex);
    if (gStreams != nullptr) streams = *gStreams;
  }
  for (OutputBackend* s : streams) s->AbortForExit();
  std::lock_guard<std::mutex> lock(gMutex);
  if (gInitialized) {
    Pa_Terminate();
    gInitialized = false;
  }
}

PaError InitLocked() {
  if (gInitialized) return paNoError;
  SilenceProbingNoise();
  PaError err = Pa_Initialize();
  if (err != paNoError) return err;
  gInitialized = true;
  if (!gAtExitRegistered) {
    gAtExitRegistered = true;
    std::atexit(CloseAllAtExit);
  }
  return paNoError;
}

}  // namespace

PaError EnsurePortAudio() {
  std::lock_guard<std::mutex> lock(gMutex);
  return InitLocked();
}

PaError RefreshPortAudio() {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gInitialized && (gStreams == nullptr || gStreams->empty())) {
    Pa_Terminate();
    gInitialized = false;
  }
  return InitLocked();
}

void RegisterStream(OutputBackend* stream) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gStreams == nullptr) gStreams = new std::set<OutputBackend*>();
  gStreams->insert(stream);
}

void UnregisterStream(OutputBackend* stream) {
  std::lock_guard<std::mutex> lock(gMutex);
  if (gStreams != nullptr) gStreams->erase(stream);
}

std::string PaErrorMessage(PaError err) {
  std::string msg = Pa_GetErrorText(err);
  if (err == paUnanticipatedHostError) {
    const PaHostErrorInfo* host = Pa_GetLastHostErrorInfo();
    if (host != nullptr && host->errorText != nullptr) {
      msg += ": ";
      msg += host->errorText;
    }
  }
  return msg;
}

}  // namespace jas
