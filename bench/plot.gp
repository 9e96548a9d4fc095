# Draws bench_dict's series (make bench):
#   gnuplot -e "data='DIR'; out='DIR'" bench/plot.gp
# data holds invalidation.dat and store.dat; out gets invalidation.png and
# store.png.
set terminal pngcairo size 800,500 font ",11"
set key top left

set output out.'/invalidation.png'
set title "Invalidating one key with one dependent"
set xlabel "dependents on other keys of the dict"
set ylabel "ns per write (register, store, invalidate, release)"
set logscale xy
set format x "10^{%L}"
set format y "10^{%L}"
set grid
plot data.'/invalidation.dat' using 1:2 with linespoints lw 2 title "libwatch", \
     ''                       using 1:3 with linespoints lw 2 title "notify-every-guard", \
     ''                       using 1:4 with linespoints lw 2 title "bloom-scan"

set output out.'/store.png'
set title "A Python store to a key nobody depends on"
unset logscale
unset xlabel
set format y "%g"
set ylabel "ns per store"
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set style fill solid 0.6 border -1
set boxwidth 0.6
unset key
plot data.'/store.dat' using 0:2:xtic(1) with boxes, \
     ''                using 0:2:(sprintf("%.1f", $2)) with labels offset 0,1
