# The programs of the link suite (mk/suites/symbols.sh), each linking
# libwatch in its own way, into build/X.Y/link/:
#
#   clash        libwatch.a, statically, beside names of libwatch's internals
#
# `make link-programs` builds them for PYTHON's interpreter.

.PHONY: link-programs

LINK_BUILD = $(BUILD)/link
LINK_PROGRAMS = $(LINK_BUILD)/clash

link-programs: $(LINK_PROGRAMS)

$(LINK_BUILD)/clash: $(LINK_BUILD)/%: tests/link/%.c $(BUILD)/libwatch.a \
    Makefile mk/link.mk
	@mkdir -p $(@D)
	$(CC) $(PROG_CFLAGS) $(LDFLAGS) -o $@ $< $(PROG_LIBS)
