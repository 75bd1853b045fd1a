{
  "targets": [
    {
      "target_name": "tcp_keepalive",
      "sources": ["native/binding.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
      "cflags_cc": ["-Wall", "-Wextra"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"] },
      "conditions": [
        ["OS == 'win'", { "sources": ["native/keepalive_win.cc"] }, { "sources": ["native/keepalive_posix.cc"] }],
        ["OS == 'linux'",
          { "sources": ["native/process_fd_linux.cc", "native/socket_lookup_linux.cc", "native/tcp_info_linux.cc"] },
          { "sources": ["native/process_fd_none.cc", "native/socket_lookup_none.cc", "native/tcp_info_none.cc"] }]
      ]
    }
  ]
}
