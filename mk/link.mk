# The programs of the link suites (mk/suites/symbols.sh, mk/suites/abi.sh),
# each linking libwatch in its own way, into build/X.Y/link/:
#
#   clash        libwatch.a, statically, beside names of libwatch's internals
#   two_copies   libwatch.so, in a process that also imports pywatch
#   abi_refuse   libwatch.a, and loads another libwatch.so with dlopen
#
# `make link-programs` builds them for PYTHON's interpreter.

.PHONY: link-programs

LINK_BUILD = $(BUILD)/link
LINK_PROGRAMS = $(LINK_BUILD)/clash $(LINK_BUILD)/two_copies \
                $(LINK_BUILD)/abi_refuse

link-programs: $(LINK_PROGRAMS)

$(LINK_BUILD)/clash $(LINK_BUILD)/abi_refuse: $(LINK_BUILD)/%: tests/link/%.c \
    $(BUILD)/libwatch.a Makefile mk/link.mk
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(LDFLAGS) -o $@ $< $(PROG_LIBS) -ldl

# Linked by the soname it will load, found beside it (rpath $ORIGIN).
$(LINK_BUILD)/two_copies: tests/link/two_copies.c $(BUILD)/libwatch.so \
    Makefile mk/link.mk
	@mkdir -p $(@D)
	ln -sf ../libwatch.so $(LINK_BUILD)/$(SONAME)
	$(CC) $(PROG_CFLAGS) $(LDFLAGS) -o $@ $< $(LINK_BUILD)/$(SONAME) \
	  -Wl,-rpath,'$$ORIGIN' $(UV_LIBS) $(PY_EMBED_LIBS)
