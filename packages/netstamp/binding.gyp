{
  "targets": [
    {
      "target_name": "jas_netstamp",
      "sources": ["native/netstamp.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
