// A real JDBC client for the conformance suite: runs one statement through the Trino JDBC driver
// and prints each row, columns separated by tabs.
//   java -cp trino-jdbc.jar conformance/clients/JdbcQuery.java jdbc:trino://host:port/tpch/tiny user "SELECT 1" [key=value;key=value]
// The optional last argument sets more connection properties (source=airflow;clientTags=etl,nightly).
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Properties;

public class JdbcQuery {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        if (args.length > 3 && !args[3].isEmpty()) {
            for (String kv : args[3].split(";")) {
                int eq = kv.indexOf('=');
                props.setProperty(kv.substring(0, eq), kv.substring(eq + 1));
            }
        }
        try (Connection c = DriverManager.getConnection(args[0], props);
             Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(args[2])) {
            int n = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                StringBuilder line = new StringBuilder();
                for (int i = 1; i <= n; i++) {
                    if (i > 1) line.append('\t');
                    line.append(rs.getString(i));
                }
                System.out.println(line);
            }
        }
    }
}
