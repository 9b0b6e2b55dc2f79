# package.cmake - installation layout and the Debian package (CPack DEB).
#
# Configure with -DCMAKE_INSTALL_PREFIX=/usr for the paths contrib/ uses:
#   cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr
#   cmake --build build-release --target package     # build-release/staffel_*.deb
# Installed: /usr/sbin/staffeld and staffelctl, the man pages
# staffeld(8), staffelctl(8), staffel.toml(5), /etc/staffel/staffel.toml
# (a conffile), the systemd unit, and the documentation and examples under
# /usr/share/doc/staffel/. The package's maintainer scripts create the
# staffel system user and /etc/staffel/keys (0700, owned by staffel).
include(GNUInstallDirs)

set(staffel_debian ${PROJECT_SOURCE_DIR}/contrib/debian)
set(staffel_docdir ${CMAKE_INSTALL_DATADIR}/doc/staffel)

# The man pages: from the --help texts and from the policy schema, checked
# with groff -ww by the unit tests (label "unit"). Not in sanitizer builds,
# whose binaries are for tests only.
if(NOT STAFFEL_SANITIZE)
find_program(STAFFEL_PYTHON3 python3 REQUIRED)
string(TIMESTAMP staffel_man_date "%Y-%m-%d" UTC)  # honours SOURCE_DATE_EPOCH
set(staffel_man ${CMAKE_BINARY_DIR}/man)
file(MAKE_DIRECTORY ${staffel_man})
add_custom_command(OUTPUT ${staffel_man}/staffeld.8 ${staffel_man}/staffelctl.8
    ${staffel_man}/staffel.toml.5
  COMMAND ${STAFFEL_PYTHON3} ${PROJECT_SOURCE_DIR}/contrib/man/help_to_roff.py staffeld
    $<TARGET_FILE:staffeld> ${PROJECT_VERSION} ${staffel_man_date} ${staffel_man}/staffeld.8
  COMMAND ${STAFFEL_PYTHON3} ${PROJECT_SOURCE_DIR}/contrib/man/help_to_roff.py staffelctl
    $<TARGET_FILE:staffelctl> ${PROJECT_VERSION} ${staffel_man_date} ${staffel_man}/staffelctl.8
  COMMAND $<TARGET_FILE:staffel_policy_doc> --man ${PROJECT_VERSION} ${staffel_man_date}
    ${staffel_man}/staffel.toml.5
  DEPENDS staffeld staffelctl staffel_policy_doc ${PROJECT_SOURCE_DIR}/contrib/man/help_to_roff.py
  COMMENT "Writing the man pages"
  VERBATIM)
foreach(page staffeld.8 staffelctl.8 staffel.toml.5)
  add_custom_command(OUTPUT ${staffel_man}/${page}.gz
    COMMAND gzip -9nfk ${staffel_man}/${page}
    DEPENDS ${staffel_man}/${page}
    VERBATIM)
  list(APPEND staffel_man_gz ${staffel_man}/${page}.gz)
endforeach()
add_custom_target(man_pages ALL DEPENDS ${staffel_man_gz})
install(FILES ${staffel_man}/staffeld.8.gz ${staffel_man}/staffelctl.8.gz
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${staffel_man}/staffel.toml.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
endif()

# The policy: a conffile the package never overwrites once edited.
install(FILES ${staffel_debian}/staffel.toml DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/staffel
  PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

# The hardened unit (RuntimeDirectory=staffel, ExecStart=/usr/sbin/staffeld).
pkg_get_variable(staffel_unitdir systemd systemdsystemunitdir)
if(NOT staffel_unitdir)
  set(staffel_unitdir /lib/systemd/system)
endif()
install(FILES ${PROJECT_SOURCE_DIR}/contrib/systemd/staffeld.service DESTINATION ${staffel_unitdir})

# Documentation and examples.
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${staffel_debian}/copyright
  DESTINATION ${staffel_docdir})
install(FILES ${PROJECT_SOURCE_DIR}/policies/README.md DESTINATION ${staffel_docdir}/policies)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/contrib/docs/ DESTINATION ${staffel_docdir})
install(FILES ${PROJECT_SOURCE_DIR}/policies/example.toml ${PROJECT_SOURCE_DIR}/policies/hybrid.toml
  DESTINATION ${staffel_docdir}/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/contrib/postfix ${PROJECT_SOURCE_DIR}/contrib/sendmail
  DESTINATION ${staffel_docdir}/examples)
# Debian wants a changelog in every package.
set(staffel_changelog ${CMAKE_BINARY_DIR}/changelog.Debian)
string(TIMESTAMP staffel_changelog_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE ${staffel_changelog}
  "staffel (${PROJECT_VERSION}-1) unstable; urgency=medium\n\n"
  "  * Staffel ${PROJECT_VERSION}, built with CMake's CPack.\n\n"
  " -- Staffel maintainers <staffel@example.org>  ${staffel_changelog_date}\n")
add_custom_command(OUTPUT ${staffel_changelog}.gz
  COMMAND gzip -9nfk ${staffel_changelog}
  DEPENDS ${staffel_changelog}
  VERBATIM)
add_custom_target(debian_changelog ALL DEPENDS ${staffel_changelog}.gz)
install(FILES ${staffel_changelog}.gz DESTINATION ${staffel_docdir})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME staffel)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)  # staffel_VERSION-1_ARCH.deb
set(CPACK_PACKAGE_CONTACT "Staffel maintainers <staffel@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "outbound mail policy milter: DKIM, quotas, suppression lists, routing")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "Staffel attaches to Postfix or Sendmail as a milter. It signs outbound mail
with DKIM (RSA and Ed25519), enforces quotas, rates and warm-up ramps per
sender with counters shared in Redis, refuses recipients on suppression
lists (hard bounces, complaints, unsubscribes), and routes transactional
and bulk mail over different return paths and relays. staffelctl manages
keys, counters, suppression lists and routes, and serves a dashboard.")
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "redis-server, libjs-chart.js")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postfix | sendmail-bin")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${staffel_debian}/conffiles ${staffel_debian}/postinst ${staffel_debian}/prerm
  ${staffel_debian}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_SET_DESTDIR OFF)
include(CPack)
