{
  "variables": {
    "have_pulse%": "<!(test -f /usr/include/pulse/pulseaudio.h && echo 1 || echo 0)"
  },
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
      "libraries": ["-lportaudio", "-ldl"],
      "conditions": [
        ["have_pulse==1", {
          "sources": ["native/pulse-output-stream.cc"],
          "defines": ["JAS_HAVE_PULSE=1"],
          "libraries": ["-lpulse"]
        }]
      ]
    }
  ]
}
