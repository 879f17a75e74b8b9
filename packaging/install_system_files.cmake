# Run by `cmake --install` (see packaging/CMakeLists.txt, which sets the D4_* variables): installs the
# files whose contents or places depend on the install prefix — the configuration as installed
# (<sysconfdir>/d4/d4.toml), the systemd units and the sysusers.d entry.
#
# They are written here, at install time, rather than at configure time so that they follow the
# prefix given to `cmake --install build --prefix /usr` (how the packages are made from an existing
# build tree) and not the one the tree was configured with: /usr gives /etc/d4, /var/lib/d4 and
# /usr/bin in the units, like GNUInstallDirs does for a tree configured with that prefix. Absolute
# CMAKE_INSTALL_SYSCONFDIR / LOCALSTATEDIR given at configure time (dh_auto_configure) win.

cmake_policy(PUSH)
cmake_policy(VERSION 3.25)  # cmake_install.cmake sets no policies

# GNUInstallDirs' special cases for system directories, applied to the install-time prefix.
function(d4_system_dir out configured)
  if(IS_ABSOLUTE "${configured}")
    set(dir "${configured}")
  elseif(CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
    set(dir "/${configured}")
  elseif(CMAKE_INSTALL_PREFIX MATCHES "^/opt/(.+)$")
    set(dir "/${configured}/opt/${CMAKE_MATCH_1}")
  else()
    set(dir "${CMAKE_INSTALL_PREFIX}/${configured}")
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

function(d4_prefixed out configured)
  if(IS_ABSOLUTE "${configured}")
    set(${out} "${configured}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${configured}" PARENT_SCOPE)
  endif()
endfunction()

# Writes CONTENT to the absolute path DEST below DESTDIR, as install(FILES) would (message, manifest).
function(d4_install_content dest content permissions)
  set(path "$ENV{DESTDIR}${dest}")
  message(STATUS "Installing: ${path}")
  file(WRITE "${path}" "${content}")
  file(CHMOD "${path}" PERMISSIONS ${permissions})
  set(CMAKE_INSTALL_MANIFEST_FILES ${CMAKE_INSTALL_MANIFEST_FILES} "${path}" PARENT_SCOPE)
endfunction()

d4_system_dir(sysconfdir "${D4_CONFIGURED_SYSCONFDIR}")
d4_system_dir(localstatedir "${D4_CONFIGURED_LOCALSTATEDIR}")
d4_prefixed(D4_BINDIR "${D4_CONFIGURED_BINDIR}")
d4_prefixed(D4_DOCDIR "${D4_CONFIGURED_DOCDIR}")
set(D4_SYSCONFDIR_D4 "${sysconfdir}/d4")
set(D4_CONFIG_FILE "${D4_SYSCONFDIR_D4}/d4.toml")
set(D4_STATEDIR "${localstatedir}/lib/d4")
if(D4_CONFIGURED_UNITDIR)
  set(unitdir "${D4_CONFIGURED_UNITDIR}")
elseif(CMAKE_INSTALL_PREFIX MATCHES "^/(usr/?)?$")
  set(unitdir "/lib/systemd/system")  # where Debian 12's debhelper looks; /usr/lib on merged-/usr
else()
  set(unitdir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")  # systemd also searches /usr/local/lib
endif()
if(CMAKE_INSTALL_PREFIX MATCHES "^/?$")
  set(sysusersdir "/usr/lib/sysusers.d")
else()
  set(sysusersdir "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
endif()

# The configuration as installed: the commented example with the paths of the installed system
# (certificate and key in <sysconfdir>/d4/tls, state under <localstatedir>/lib/d4). Each rewrite
# must match exactly one line of its section, so that a change to the example cannot silently
# leave a relative path in the installed file.
function(d4_system_config out)
  set(rewrites
      "general|data_dir|${D4_STATEDIR}"
      "web|tls_cert|${D4_SYSCONFDIR_D4}/tls/server.crt"
      "web|tls_key|${D4_SYSCONFDIR_D4}/tls/server.key"
      "web|state_dir|${D4_STATEDIR}/web"
      "server|tls_cert|${D4_SYSCONFDIR_D4}/tls/server.crt"
      "server|tls_key|${D4_SYSCONFDIR_D4}/tls/server.key")
  file(READ "${D4_SOURCE_DIR}/config/d4.example.toml" config)
  foreach(rewrite IN LISTS rewrites)
    string(REPLACE "|" ";" parts "${rewrite}")
    list(GET parts 0 section)
    list(GET parts 1 key)
    list(GET parts 2 value)
    # The section: its header line and every following line that does not start a new section.
    string(REGEX MATCH "\n\\[${section}\\]((\n[^[\n][^\n]*)|\n)*" block "${config}")
    string(REGEX MATCHALL "\n${key} = \"[^\"]*\" *" found "${block}")
    list(LENGTH found count)
    if(NOT count EQUAL 1)
      message(FATAL_ERROR "config/d4.example.toml: [${section}] ${key} found ${count} times, expected once")
    endif()
    # Keeps the column of a trailing comment where the new value leaves room.
    set(line "\n${key} = \"${value}\" ")
    string(LENGTH "${found}" old_length)
    string(LENGTH "${line}" new_length)
    if(new_length LESS old_length)
      math(EXPR pad "${old_length} - ${new_length}")
      string(REPEAT " " ${pad} spaces)
      string(APPEND line "${spaces}")
    endif()
    string(REGEX REPLACE " +$" "" found_trimmed "${found}")
    if(found_trimmed STREQUAL found)  # no comment after the value
      string(REGEX REPLACE " +$" "" line "${line}")
    endif()
    string(REPLACE "${found}" "${line}" new_block "${block}")
    string(REPLACE "${block}" "${new_block}" config "${config}")
  endforeach()
  string(CONFIGURE
         "# D4 configuration of this host, read by every D4 service (their systemd units name this file).
# The example configuration with this system's paths; the example itself and the documentation
# are in @D4_DOCDIR@. After a change: d4-server --config @D4_CONFIG_FILE@ --check-config
" header @ONLY)
  set(${out} "${header}${config}" PARENT_SCOPE)
endfunction()

# An existing configuration is the operator's: a re-install puts the new one next to it.
d4_system_config(config)
set(config_dest "${D4_CONFIG_FILE}")
if(EXISTS "$ENV{DESTDIR}${config_dest}")
  file(READ "$ENV{DESTDIR}${config_dest}" existing)
  if(NOT existing STREQUAL config)
    set(config_dest "${D4_CONFIG_FILE}.new")
    message(STATUS "Keeping the existing ${D4_CONFIG_FILE}")
  endif()
endif()
d4_install_content("${config_dest}" "${config}" "OWNER_READ;OWNER_WRITE;GROUP_READ")

# systemd units: the templates with the shared hardening block and this system's paths.
file(READ "${D4_SOURCE_DIR}/packaging/systemd/hardening.conf" D4_HARDENING)
string(REGEX REPLACE "^(#[^\n]*\n)+" "" D4_HARDENING "${D4_HARDENING}")  # its comment is for this tree
string(STRIP "${D4_HARDENING}" D4_HARDENING)
file(GLOB unit_templates "${D4_SOURCE_DIR}/packaging/systemd/*.in")
foreach(template IN LISTS unit_templates)
  get_filename_component(unit "${template}" NAME)
  string(REGEX REPLACE "\\.in$" "" unit "${unit}")
  file(READ "${template}" content)
  string(CONFIGURE "${content}" content @ONLY)
  d4_install_content("${unitdir}/${unit}" "${content}" "OWNER_READ;OWNER_WRITE;GROUP_READ;WORLD_READ")
endforeach()

file(READ "${D4_SOURCE_DIR}/packaging/d4.sysusers.in" content)
string(CONFIGURE "${content}" content @ONLY)
d4_install_content("${sysusersdir}/d4.conf" "${content}" "OWNER_READ;OWNER_WRITE;GROUP_READ;WORLD_READ")

cmake_policy(POP)
