// Process-wide PortAudio state: one lazy Pa_Initialize shared by every JS thread, device-list
// refresh while no stream is open, quiet ALSA/JACK probing, and closing streams at process exit.
#pragma once

#include <portaudio.h>

#include <string>

namespace jas {

class OutputBackend;

// Initializes PortAudio once (thread-safe). Returns paNoError or the error.
PaError EnsurePortAudio();

// Re-scans devices (Pa_Terminate + Pa_Initialize) if no stream is open; otherwise does nothing.
PaError RefreshPortAudio();

// Streams register while open, so a device refresh never pulls the rug from under them and
// process exit stops their callbacks before libraries are torn down.
void RegisterStream(OutputBackend* stream);
void UnregisterStream(OutputBackend* stream);

std::string PaErrorMessage(PaError err);

}  // namespace jas
