# Every third-party library comes from a Debian package, found through pkg-config.
# A missing one stops the configure step and names the package that provides it.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
	message(FATAL_ERROR "pkg-config not found: apt-get install -y pkg-config")
endif()
find_package(Threads REQUIRED)

# tally_require_pkg(<target-suffix> <pkg-config module> <debian package>)
# defines the imported target tally::<target-suffix>.
function(tally_require_pkg name module debian)
	pkg_check_modules(TALLY_PKG_${name} QUIET IMPORTED_TARGET GLOBAL ${module})
	if(NOT TALLY_PKG_${name}_FOUND)
		message(FATAL_ERROR
			"tally needs ${module} (pkg-config module '${module}' not found).\n"
			"Install it with:  apt-get install -y ${debian}")
	endif()
	add_library(tally::${name} ALIAS PkgConfig::TALLY_PKG_${name})
	message(STATUS "tally: ${module} ${TALLY_PKG_${name}_VERSION}")
endfunction()

tally_require_pkg(uring liburing liburing-dev)
tally_require_pkg(ck ck libck-dev)
tally_require_pkg(lws libwebsockets libwebsockets-dev)
tally_require_pkg(wolfssl wolfssl libwolfssl-dev)
tally_require_pkg(nettle nettle nettle-dev)
tally_require_pkg(lmdb lmdb liblmdb-dev)
tally_require_pkg(zlib zlib zlib1g-dev)
tally_require_pkg(inih inih libinih-dev)

# jsmn is a single header with no pkg-config module: look for the header itself.
find_path(TALLY_JSMN_INCLUDE jsmn.h)
if(NOT TALLY_JSMN_INCLUDE)
	message(FATAL_ERROR "tally needs jsmn.h (the jsmn JSON tokenizer).\n"
		"Install it with:  apt-get install -y libjsmn-dev")
endif()
add_library(tally_jsmn INTERFACE)
target_include_directories(tally_jsmn INTERFACE ${TALLY_JSMN_INCLUDE})
add_library(tally::jsmn ALIAS tally_jsmn)
