{
  "targets": [
    {
      "target_name": "tcp_keepalive",
      "sources": ["native/binding.cc"],
      "include_dirs": ["vendor/node-addon-api"],
      "defines": ["NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-Wall", "-Wextra", "-fno-exceptions"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra"], "GCC_ENABLE_CPP_EXCEPTIONS": "NO" },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 0 } },
      "conditions": [
        ["OS == 'win'", { "sources": ["native/keepalive_win.cc"] }, { "sources": ["native/keepalive_posix.cc"] }],
        ["OS == 'linux'",
          { "sources": ["native/process_fd_linux.cc", "native/socket_lookup_linux.cc", "native/tcp_info_linux.cc"] },
          { "sources": ["native/process_fd_none.cc", "native/socket_lookup_none.cc", "native/tcp_info_none.cc"] }]
      ]
    }
  ]
}
