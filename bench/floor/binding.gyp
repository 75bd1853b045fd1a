{
  "targets": [
    {
      "target_name": "floor",
      "sources": ["floor.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "cflags_cc": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
