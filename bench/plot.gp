# Draws make bench's plots, every interpreter's series together:
#   gnuplot -e "versions='3.12 3.13 3.14 3.15'; out='DIR'" bench/plot.gp
# Reads build/X.Y/bench/invalidation.dat (bench_dict) for each version and
# DIR/store.dat (one row per version: version unwatched no-op libwatch cell,
# ns per store); writes DIR/invalidation.png and DIR/store.png.
set terminal pngcairo size 900,540 font ",11"
set key top left

set output out.'/invalidation.png'
set title "Invalidating one key with one dependent"
set xlabel "dependents on other keys of the dict"
set ylabel "ns per write (re-arm, register, store, invalidate)"
set logscale xy
set format x "10^{%L}"
set format y "10^{%L}"
set grid
inv(v) = 'build/'.v.'/bench/invalidation.dat'
plot for [v in versions] inv(v) using 1:2 with linespoints lw 2 \
       title 'libwatch, '.v, \
     for [v in versions] inv(v) using 1:3 with linespoints dt 2 \
       title 'notify-every-guard, '.v, \
     for [v in versions] inv(v) using 1:4 with linespoints dt 3 \
       title 'bloom-scan, '.v

set output out.'/store.png'
set title "A Python store to a key nobody depends on, and to one a cell reads"
unset logscale
unset xlabel
set format y "%g"
set ylabel "ns per store"
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.6 border -1
set key top left
plot out.'/store.dat' using 2:xtic(1) title 'unwatched', \
     ''               using 3 title 'no-op watcher', \
     ''               using 4 title 'libwatch', \
     ''               using 5 title 'one cell on the key'
