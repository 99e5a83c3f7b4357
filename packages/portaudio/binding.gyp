{
  "targets": [
    {
      "target_name": "jas_portaudio",
      "sources": [
        "native/addon.cc",
        "native/output-stream.cc",
        "native/pa-runtime.cc"
      ],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lportaudio", "-ldl"]
    }
  ]
}
